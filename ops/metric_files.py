"""The files prometheus-client's multiprocess mode leaves in ``PROMETHEUS_MULTIPROC_DIR``.

Kept apart from ``ops.metrics`` on purpose: gunicorn's master and ``serve.py`` tidy the directory
before any process may import prometheus-client, which reads the variable at import.
"""

from __future__ import annotations

import os
from pathlib import Path


def remove_dead(directory: Path) -> None:
    """Remove the files of processes that are gone (``*_<pid>.db``), never a live one's: a second
    ``serve.py`` or gunicorn on the same directory must not delete the counters of one that runs."""
    for path in directory.glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
