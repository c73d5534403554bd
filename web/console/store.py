"""The web process's database engine for the console, created on the first console request.

The door never touches the database: a web worker that only acknowledges webhooks opens no
connection and loads no ledger code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

import db
from config import Settings

_LOCK = threading.Lock()


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["console_sessions"] = None


def sessions() -> sessionmaker[Session]:
    app = current_app
    if app.extensions.get("console_sessions") is None:
        with _LOCK:
            if app.extensions.get("console_sessions") is None:
                engine = db.engine_from(app.extensions["settings"])
                app.extensions["console_engine"] = engine
                app.extensions["console_sessions"] = db.session_factory(engine)
    factory: sessionmaker[Session] = app.extensions["console_sessions"]
    return factory


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only unit of work (rolled back at the end)."""
    with sessions()() as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    """One transaction: committed when the block ends without an exception."""
    with sessions().begin() as session:
        yield session
