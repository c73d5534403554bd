"""Event handlers. Importing this package registers every handler module in it.

Add a module here (say ``handlers/billing.py``) with ``@handler(...)`` functions and it is
picked up: nothing in the core changes. Modules whose name starts with ``_`` are skipped.
"""

from __future__ import annotations

import importlib
import pkgutil

from handlers.registry import REGISTRY, Handler, handler, handlers_for

__all__ = ["REGISTRY", "Handler", "handler", "handlers_for", "load_all"]


def load_all() -> list[str]:
    """Import every handler module of this package (idempotent); returns their names."""
    names = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "registry" or info.name.startswith("_"):
            continue
        importlib.import_module(f"{__name__}.{info.name}")
        names.append(info.name)
    return names


load_all()
