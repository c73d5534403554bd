"""``ops.gunicorn_worker.ThreadWorker`` on its own: when a serving thread keeps its kept-alive
connection for the next request instead of handing it back to the main thread.

Real sockets (a connected pair on loopback) and a real thread pool; gunicorn's own config and
connection objects. The worker is built as the arbiter builds it, not started.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import pytest
from gunicorn.config import Config
from gunicorn.workers import gthread

from ops.gunicorn_worker import LINGER_SECONDS, ThreadWorker

_NEXT_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def worker() -> Iterator[ThreadWorker]:
    built = ThreadWorker(0, os.getppid(), [], None, 30, Config(), None)
    built.tpool = futures.ThreadPoolExecutor(max_workers=1)
    yield built
    built.tpool.shutdown(wait=True)
    built.tmp.close()


@pytest.fixture
def kept_alive() -> Iterator[tuple[gthread.TConn, socket.socket]]:
    """A connection as the worker holds it after an answer (initialized, blocking), and its client."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    served, address = listener.accept()
    conn = gthread.TConn(Config(), served, address, listener.getsockname())
    conn.init()
    yield conn, client
    for sock in (client, served, listener):
        sock.close()


def test_the_next_request_already_on_the_wire_is_served_by_the_same_thread(worker, kept_alive):
    conn, client = kept_alive
    _send_next_request(client)
    assert worker._next_request_comes(conn)


def test_a_quiet_connection_goes_back_to_the_poller_after_the_linger(worker, kept_alive):
    """The thread waits the linger out (a request in it would be served: ``select`` says so) and
    no longer."""
    conn, _ = kept_alive
    started = time.monotonic()
    assert not worker._next_request_comes(conn)
    assert LINGER_SECONDS * 0.9 <= time.monotonic() - started < 0.5


def test_no_thread_lingers_while_another_request_waits_for_one(worker, kept_alive):
    """The pool's only thread is busy and a request is queued behind it: the connection goes back
    to the poller at once, even with its next request there, so the queued one is served first."""
    conn, client = kept_alive
    release = threading.Event()
    worker.tpool.submit(release.wait, 5)
    queued = worker.tpool.submit(lambda: None)
    _send_next_request(client)
    try:
        assert not worker._next_request_comes(conn)
    finally:
        release.set()
        queued.result(timeout=5)


def test_a_stopping_worker_does_not_linger(worker, kept_alive):
    conn, client = kept_alive
    _send_next_request(client)
    worker.alive = False
    assert not worker._next_request_comes(conn)


def _send_next_request(client: socket.socket) -> None:
    """The client's next request, on the wire by the time this returns."""
    client.sendall(_NEXT_REQUEST)
    time.sleep(0.05)
