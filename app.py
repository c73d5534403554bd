"""Application factory. Nothing runs at import; ``wsgi.py`` and the tests call ``create_app``."""

from __future__ import annotations

import os

import structlog
from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

import webhooks
from config import Settings
from ledger.cli import ledger as ledger_cli
from ledger.cli import reconcile as reconcile_cli
from logconfig import configure_logging
from providers import PROVIDERS
from workers import queue
from workers.cli import events_cli

#: Stable error codes for HTTP errors Werkzeug raises before our view runs.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env(os.environ)
    configure_logging(settings)
    app = Flask(__name__)
    # Werkzeug enforces this while reading the body, so an endless body is cut off, not buffered.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["settings"] = settings
    queue.init_app(app, settings)
    app.register_blueprint(webhooks.bp)
    app.cli.add_command(events_cli)
    app.cli.add_command(reconcile_cli)
    app.cli.add_command(ledger_cli)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        g.outcome = {413: "too_large"}.get(code, _HTTP_CODES.get(code, "error"))
        return jsonify(error=_HTTP_CODES.get(code, "http_error"), message=exc.description), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        """Last line of defence: log with traceback, answer JSON without one."""
        structlog.get_logger("app").exception("unhandled_error")
        g.outcome = "error"
        return jsonify(error="internal_error", message="unexpected error; the event was not stored"), 500

    log = structlog.get_logger("app")
    for name in PROVIDERS:
        if name in settings.enabled_providers:
            log.info("provider.enabled", provider=name)
        else:
            log.warning("provider.disabled", provider=name, hint="set its credentials to enable it")
    return app
