"""The web's Redis: one client per process, kept on the app, and the door's durability point.

The client is made on first use, not when the app is built: building the app (``flask --help``,
``flask ledger list``) must not start the embedded Redis that a missing ``REDIS_URL`` means.

The door's append goes through a client of its own per serving thread, holding one connection of
a pool of the door's own for the thread's life (redis-py's ``single_connection_client``). A pooled
client takes a connection from the pool and gives it back around every command, under the pool's
lock and with a poll of the socket (~40 µs of CPU per acknowledged event, measured in-process:
bench/results.md). That poll is how a pooled client notices a connection Redis closed (a restart,
an idle timeout) before using it; a kept connection learns it from the append's error instead, so
the door's connections retry once on a connection error (none on a timeout: a provider waits 5 s).
A retried append is safe: one that had landed finds its fence and answers ``duplicate``.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import Settings
from providers.errors import QueueUnavailable
from schemas.envelope import Envelope
from workers import queue

_lock = threading.Lock()


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["rq"] = {"settings": settings}


def _clients() -> dict[str, Any]:
    rq: dict[str, Any] = current_app.extensions["rq"]
    if "connection" not in rq:
        with _lock:
            if "connection" not in rq:
                connection = queue.connect(rq["settings"])
                rq["events"] = queue.events_queue(connection)
                rq["door_pool"] = queue.connect(rq["settings"], retry=_RECONNECT_ONCE).connection_pool
                rq["per_thread"] = threading.local()
                rq["connection"] = connection
                # An app dropped before its process ends (a test's, a tool's) closes its sockets when
                # it is collected, even inside a reference cycle, rather than leaving them unclosed.
                rq["disconnect"] = weakref.finalize(current_app._get_current_object(), _close,  # type: ignore[attr-defined]
                                                    connection.connection_pool, rq["door_pool"])  # fmt: skip
    return rq


def _close(*pools: redis.ConnectionPool) -> None:
    for pool in pools:
        pool.disconnect()


def disconnect(app: Flask) -> None:
    """Close every Redis connection the app opened (both pools, the serving threads' kept ones too),
    now rather than when the app is collected: what a test that built an app does when it is done.
    A served app keeps them for the life of its process."""
    close = app.extensions.get("rq", {}).get("disconnect")
    if close is not None:
        close()  # the finalizer, run once


def get_connection() -> redis.Redis:
    connection: redis.Redis = _clients()["connection"]
    return connection


_RECONNECT_ONCE = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))


def _thread_connection(rq: dict[str, Any]) -> redis.Redis:
    """This thread's own client, holding one connection of the door's pool (the module docstring says why)."""
    per_thread = rq["per_thread"]
    client: redis.Redis | None = getattr(per_thread, "client", None)
    if client is None:
        try:  # taking the connection connects it
            client = redis.Redis(connection_pool=rq["door_pool"], single_connection_client=True)
        except redis.RedisError as exc:
            raise QueueUnavailable.because(exc) from None
        per_thread.client = client
    return client


def enqueue_event(envelope: Envelope, settings: Settings) -> str:
    """``workers.queue.enqueue_event`` with this thread's client and this process's queue."""
    rq = _clients()
    return queue.enqueue_event(_thread_connection(rq), rq["events"], envelope, settings)
