"""The web's Redis: one client per process, kept on the app, and the door's durability point.

The client is made on first use, not when the app is built: building the app (``flask --help``,
``flask ledger list``) must not start the embedded Redis that a missing ``REDIS_URL`` means.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from flask import Flask, current_app

from config import Settings
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
                rq["connection"] = connection
    return rq


def get_connection() -> redis.Redis:
    connection: redis.Redis = _clients()["connection"]
    return connection


def enqueue_event(envelope: Envelope, settings: Settings) -> str:
    """``workers.queue.enqueue_event`` with this process's client and queue."""
    rq = _clients()
    return queue.enqueue_event(rq["connection"], rq["events"], envelope, settings)
