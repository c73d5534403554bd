"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can do its job right now).

Liveness touches nothing, so a Redis outage never gets healthy web processes restarted.
Readiness checks what an acknowledgement and its processing need: Redis, the database with
its migrations at head, and a queue backlog under ``READY_MAX_QUEUE_DEPTH``. A failing check
gives 503 and names itself; errors are reported by type only (a driver's message may carry a
host or user name, never worth leaking on an unauthenticated endpoint).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

import db
from config import Settings
from web.queue import get_connection
from workers import stream

bp = Blueprint("health", __name__)

Check = Callable[[Flask], dict[str, Any]]
#: Readiness checks by name, in the order they run; add one with ``@check("name")``.
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn

    return register


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    results: dict[str, dict[str, Any]] = {}
    for name, fn in CHECKS.items():
        started = time.perf_counter()
        try:
            results[name] = fn(current_app)
        except Exception as exc:  # any failure of a dependency is "not ready", never a 500
            results[name] = {"ok": False, "error": type(exc).__name__}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    failing = [name for name, result in results.items() if not result["ok"]]
    status = 503 if failing else 200
    return jsonify(status="unavailable" if failing else "ok", failing=failing, checks=results), status


@check("redis")
def _redis(app: Flask) -> dict[str, Any]:
    return {"ok": bool(get_connection().ping())}


@check("database")
def _database(app: Flask) -> dict[str, Any]:
    with engine(app).connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"ok": True}


@check("migrations")
def _migrations(app: Flask) -> dict[str, Any]:
    from alembic.runtime.migration import MigrationContext

    with engine(app).connect() as conn:
        current = sorted(MigrationContext.configure(conn).get_current_heads())
    head = heads(app)
    return {"ok": current == head, "current": current, "head": head}


@check("queue")
def _queue(app: Flask) -> dict[str, Any]:
    settings: Settings = app.extensions["settings"]
    # Events not yet stored: the inbox stream (the RQ queue holds drain jobs, not events).
    depth = stream.depth(get_connection())
    return {"ok": depth <= settings.ready_max_queue_depth, "depth": depth, "max": settings.ready_max_queue_depth}


def engine(app: Flask) -> Engine:
    """A small engine of the web process's own, created on the first readiness check."""
    found: Engine | None = app.extensions.get("health_engine")
    if found is None:
        settings: Settings = app.extensions["settings"]
        # No pool: a probe every few seconds needs no kept connection, and none is left open.
        options: dict[str, Any] = {"poolclass": NullPool}
        if not db.database_url(settings).startswith("sqlite"):
            options["connect_args"] = {"connect_timeout": 2}
        found = app.extensions["health_engine"] = db.engine_from(settings, **options)
    return found


def heads(app: Flask) -> list[str]:
    """The migration heads shipped with this code (read once: they change only with a deploy)."""
    found: list[str] | None = app.extensions.get("migration_heads")
    if found is None:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(db.alembic_config(app.extensions["settings"]))
        found = app.extensions["migration_heads"] = sorted(script.get_heads())
    return found


def init_app(app: Flask) -> None:
    # The web never migrates (the release phase does); alembic's per-check INFO lines are noise.
    logging.getLogger("alembic.runtime").setLevel(logging.WARNING)
    app.register_blueprint(bp)
