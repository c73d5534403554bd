"""Real servers a test starts for itself on free ports (never the shared ones), always stopped."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check, timeout: float = 10.0, what: str = "server") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not come up in {timeout} s")


def wait_for(check: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    """``check()``'s first truthy value, polled until ``timeout``; its exceptions are not swallowed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def redis_server(workdir: Path, *, tls: bool = False) -> Iterator[str]:
    """A throwaway redis-server; yields its URL (``rediss://`` with a self-signed cert when tls)."""
    binary = shutil.which("redis-server")
    if binary is None:
        import pytest

        pytest.skip("redis-server binary not installed")
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    if tls:
        cert, key = workdir / "cert.pem", workdir / "key.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        args += [
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-auth-clients",
            "no",
        ]
        url = f"rediss://127.0.0.1:{port}/0"
        probe = redis.Redis.from_url(url, ssl_cert_reqs="none", socket_connect_timeout=0.5)
    else:
        args += ["--port", str(port)]
        url = f"redis://127.0.0.1:{port}/0"
        probe = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(probe.ping, what="redis-server")
        yield url
    finally:
        stop(process)
        probe.close()


def stop(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
