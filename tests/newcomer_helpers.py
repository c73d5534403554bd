"""Run the project's entry points as a newcomer does: fresh environment, real processes, real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Variables of the developer's shell that would make a run not a newcomer's.
_SCRUBBED = ("REDIS_URL", "DATABASE_URL", "KOBANA_WEBHOOK_SECRET", "TRANSFEERA_WEBHOOK_SECRET", "PORT",
             "CELCOIN_WEBHOOK_USERNAME", "CELCOIN_WEBHOOK_PASSWORD", "PROMETHEUS_MULTIPROC_DIR", "FLASK_APP",
             "METRICS_PORT", "WORKER_METRICS_PORT", "SENTRY_DSN", "DYNO", "LOG_FORMAT")  # fmt: skip


def fresh_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("TEST_")}
    return {**env, "VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1", **extra}


def run(
    argv: list[str], env: dict[str, str], cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def flask(*args: str) -> list[str]:
    """The README's form: the project's own flask, with the app named (works with another flask on PATH)."""
    return [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", *args]


def fresh_copy(target: Path) -> Path:
    """The tracked files of this checkout, as a clone would have them (no var/, no caches)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def descendants(pid: int) -> set[int]:
    """Every living process under ``pid`` (children, grandchildren...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if alive(p)}


def processes_mentioning(text: str) -> set[int]:
    """Living processes whose command line contains ``text`` (e.g. an embedded Redis's directory)."""
    return {int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and text in cmdline(int(e.name)) and alive(int(e.name))}  # fmt: skip


def embedded_redis_pids(var_dir: Path) -> set[int]:
    return {p for p in processes_mentioning(str(var_dir.resolve())) if "redis-server" in cmdline(p)}


def stop_all(pids: Iterable[int]) -> None:
    """Test clean-up: SIGKILL what a failed test may have left (only the pids it started)."""
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
