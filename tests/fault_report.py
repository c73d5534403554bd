"""pytest plugin: the fault scenarios' figures, printed at the end and written to ``$FAULT_REPORT`` (JSON).

``docs/reliability.md`` quotes the figures of the last run; regenerate them with
``FAULT_REPORT=var/faults.json .venv/bin/pytest -m slow tests/test_faults.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_FIGURES: dict[str, dict[str, Any]] = {}
_COLUMNS = ("sent", "acknowledged", "processed", "lost", "duplicated", "seconds")


def record(scenario: str, figures: dict[str, Any]) -> None:
    _FIGURES[scenario] = figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("fault scenarios")
    terminalreporter.write_line(f"{'scenario':<34}" + "".join(f"{c:>14}" for c in _COLUMNS))
    for name, figures in _FIGURES.items():
        terminalreporter.write_line(f"{name:<34}" + "".join(f"{figures.get(c, '-')!s:>14}" for c in _COLUMNS))
    target = os.environ.get("FAULT_REPORT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(_FIGURES, indent=2, sort_keys=True))
        terminalreporter.write_line(f"figures written to {target}")
