"""The web's Redis: one client per process, kept on the app, and the door's durability point."""

from __future__ import annotations

import redis
from flask import Flask, current_app

from config import Settings
from schemas.envelope import Envelope
from workers import queue


def init_app(app: Flask, settings: Settings) -> None:
    connection = queue.connect(settings)
    app.extensions["rq"] = {"connection": connection, "events": queue.events_queue(connection)}


def get_connection() -> redis.Redis:
    connection: redis.Redis = current_app.extensions["rq"]["connection"]
    return connection


def enqueue_event(envelope: Envelope, settings: Settings) -> str:
    """``workers.queue.enqueue_event`` with this process's client and queue."""
    rq = current_app.extensions["rq"]
    return queue.enqueue_event(rq["connection"], rq["events"], envelope, settings)
