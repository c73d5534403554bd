"""Application factory. Nothing runs at import; ``wsgi.py`` and the tests call ``create_app``."""

from __future__ import annotations

import functools
import importlib
import os

import click
import structlog
from flask import Flask, Response
from werkzeug.exceptions import HTTPException

import web
from config import Settings
from ops import embedded_redis, preflight, sentry
from ops.logconfig import configure_logging
from providers import PROVIDERS
from web.outcome import Outcome, refuse

#: Stable error codes for HTTP errors Werkzeug raises before our view runs.
_HTTP_CODES = {404: Outcome.NOT_FOUND, 405: Outcome.METHOD_NOT_ALLOWED, 413: Outcome.BODY_TOO_LARGE}


#: Flask CLI groups as ``(name, "module:group", help)``, imported only when a command runs.
_CLI_GROUPS = (
    ("events", "web.cli.events:events_cli", "Inspect and replay the event log."),
    ("reconcile", "web.cli.ledger:reconcile", "Reconciliation reports over the ledger."),
    ("ledger", "web.cli.ledger:ledger", "Look at money objects in the ledger."),
    ("webhooks", "web.cli.webhooks:webhooks_cli", "Send signed test webhooks, as the providers do."),
    ("providers", "web.cli.providers:providers_cli", "Provider APIs: registrations and resync of lost deliveries."),
    ("alerts", "web.cli.alerts:alerts_cli", "Alerts: list them, test each channel."),
    ("users", "web.cli.users:users_cli", "Console users: create, list, disable, set a password."),
)


class _LazyGroup(click.Group):
    """A CLI group imported on first use, so a gunicorn worker never loads the ledger, the
    handlers and the CLI modules for commands it does not run (bench/README.md measured 22 MB of
    RSS per web worker; SQLAlchemy itself is loaded, by /readyz's database check)."""

    def __init__(self, name: str, target: str, help_text: str) -> None:
        super().__init__(name, help=help_text)
        self._target = target

    @functools.cached_property
    def _group(self) -> click.Group:
        module, attr = self._target.split(":")
        group: click.Group = getattr(importlib.import_module(module), attr)
        return group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._group.list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._group.get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a Redis or database it cannot reach, or a database never migrated,
        is one line naming the variable and the fix (exit 2), and an embedded Redis the command
        started is stopped when it ends."""
        import redis
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return super().invoke(ctx)
        except (SQLAlchemyError, redis.RedisError) as exc:
            line = preflight.explain(exc, Settings.from_env(os.environ))
            if line is None:
                raise
            preflight.fail("flask", preflight.StartupError(line))
        finally:
            embedded_redis.stop_started()


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env(os.environ)
    configure_logging(settings)
    sentry.init(settings, "web")
    app = Flask(__name__)
    # Werkzeug enforces this while reading the body, so an endless body is cut off, not buffered.
    # One byte more than the limit: a chunked body (no Content-Length) is silently truncated at
    # the limit by Werkzeug, so the view must see that extra byte to answer 413 (web.webhooks.read_body).
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.extensions["settings"] = settings
    web.register(app, settings)
    for name, target, help_text in _CLI_GROUPS:
        app.cli.add_command(_LazyGroup(name, target, help_text))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        return refuse(_HTTP_CODES.get(code, Outcome.HTTP_ERROR), exc.description, code)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        """Last line of defence: log with traceback, answer JSON without one."""
        structlog.get_logger("app").exception("unhandled_error")
        return refuse(Outcome.INTERNAL_ERROR, "unexpected error; the event was not stored", 500)

    return app


def announce_providers(settings: Settings) -> None:
    """Which providers this server answers: logged once by the serving process (gunicorn's
    ``when_ready``), never by a ``flask`` command, which has nothing to serve."""
    log = structlog.get_logger("app")
    for name in PROVIDERS:
        if name in settings.enabled_providers:
            log.info("provider.enabled", provider=name)
        else:
            log.warning("provider.disabled", provider=name, hint="set its credentials to enable it")
