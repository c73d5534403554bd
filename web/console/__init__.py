"""The finance console: a server-rendered blueprint under ``/console`` (docs/console.md).

Everything here is mounted by ``init_app`` on the one Flask app, beside the webhook door, and
touches only ``/console`` requests: CSRF is checked in the blueprint (the door never sees it),
the session cookie is only ever written by console views, the security headers go on console
responses only. Pages work without JavaScript; no asset comes from outside the app, so the
Content-Security-Policy is ``default-src 'self'``.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from flask import Flask, Response, render_template, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Settings
from web.console import auth, i18n, store, views_admin, views_discrepancies, views_events, views_overview  # noqa: F401 - routes
from web.console.blueprint import bp

#: ``img-src data:`` is not needed: the chart is inline SVG markup, styled by attributes.
CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is ``Secure`` whenever the request came over HTTPS (``X-Forwarded-Proto``
    behind a router, through ProxyFix), so a laptop on plain http still works."""

    def open_session(self, app: Flask, request: Any) -> Any:
        """No session outside ``/console``: the webhook door never reads nor signs a cookie."""
        if not request.path.startswith("/console"):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def init_app(app: Flask, settings: Settings) -> None:
    app.secret_key = settings.secret_key or secrets.token_urlsafe(32)  # tests and CLI: per-process key
    app.config.update(
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.console_session_hours),
        SESSION_REFRESH_EACH_REQUEST=True,  # the lifetime counts from the last request: an idle timeout
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by the console blueprint only, never on the door
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    app.session_interface = _SessionInterface()
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)  # type: ignore[method-assign]
    store.init_app(app, settings)
    auth.init_app(app, settings)
    i18n.init_app(app, settings)
    app.register_blueprint(bp)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> tuple[str, int]:
    """Console errors are pages, not the door's JSON (CSRF failures arrive here as 400)."""
    return render_template("error.html", code=exc.code or 500, message=exc.description), exc.code or 500
