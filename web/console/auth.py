"""Who is asking: login, sessions, roles, throttling, CSRF, and the audit trail's actor and IP.

- Passwords: argon2id (``passwords.py``); an unknown e-mail is checked against a dummy hash, so
  it gets the same answer in the same time as a wrong password.
- Throttling: Flask-Limiter on the service's Redis, per account and per IP, on POST /login
  only; a breach answers 429 with ``Retry-After``.
- CSRF: Flask-WTF checks every POST to the console (never the webhook door): 400, nothing done.
- Roles: ``@requires(VIEWER|OPERATOR|ADMIN)`` on every view; anonymous → the login page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, flash, redirect, render_template, request, session, url_for
from flask_limiter import Limiter
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import func, select

from config import Settings
from web.console import passwords, store
from web.console.blueprint import bp
from web.console.i18n import gettext as _
from web.console.models import ADMIN, OPERATOR, ROLES, VIEWER, User, audit

__all__ = ["ADMIN", "OPERATOR", "VIEWER", "requires", "record"]

#: Per account (the e-mail typed, known or not) and per client IP.
LOGIN_LIMIT_ACCOUNT = "5 per minute; 20 per hour"
LOGIN_LIMIT_IP = "20 per minute; 200 per hour"

csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=lambda: request.remote_addr or "-", headers_enabled=True, key_prefix="console-limit",
                  request_identifier=lambda: request.endpoint or "")  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])


class SignedIn(UserMixin):
    """The logged-in user as Flask-Login holds it: a plain copy of the row, no open session."""

    def __init__(self, row: User) -> None:
        self.id, self.email, self.role = row.id, row.email, row.role

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def init_app(app: Flask, settings: Settings) -> None:
    """The extensions hook every request of the app; here their hooks run on console requests only,
    so the webhook door pays nothing for them (Flask-Limiter's alone was ~0.5 ms per acknowledgement,
    about half the door's own time, measured in-process)."""
    with console_only_hooks(app):
        _init_extensions(app, settings)


@contextmanager
def console_only_hooks(app: Flask) -> Iterator[None]:
    """Request hooks added app-wide inside the block become the console blueprint's: Flask runs them
    for the console's routes only, and a webhook request does not even look at them (a wrapper that
    tested the path still cost each request a call per hook, ~30 us in all)."""
    registries: tuple[dict[Any, list[Any]], ...] = (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
    )
    before = [len(registry.get(None, [])) for registry in registries]
    yield
    for registry, count in zip(registries, before, strict=True):
        hooks = registry.get(None, [])
        added, hooks[count:] = hooks[count:], []
        registry.setdefault(bp.name, [])[:0] = added  # before the console's own hooks, as they ran


def _init_extensions(app: Flask, settings: Settings) -> None:
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "console.login"
    login_manager.session_protection = "basic"
    app.config["RATELIMIT_STORAGE_URI"] = limiter_storage(settings.redis_url)
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 2, "socket_timeout": 2}
    app.config["RATELIMIT_SWALLOW_ERRORS"] = False
    limiter.init_app(app)


def limiter_storage(redis_url: str | None) -> str:
    """The service's Redis as the ``limits`` library names it (``redis+unix://`` for a socket)."""
    if not redis_url:
        return "memory://"
    return "redis+" + redis_url if redis_url.startswith("unix://") else redis_url


@login_manager.user_loader
def _load(user_id: str) -> SignedIn | None:
    with store.reading() as db_session:
        row = db_session.get(User, int(user_id))
        if row is None or not row.active or session.get("pw") != _stamp(row.password_changed_at):
            return None  # disabled, deleted, or the password changed since: log in again
        return SignedIn(row)


@login_manager.unauthorized_handler
def _to_login() -> Any:
    return redirect(url_for("console.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))


def requires(role: str) -> Callable[[F], F]:
    """The view needs a logged-in user with ``role`` or above; the role is kept on the view for tests."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(role):
                abort(403)
            return view(*args, **kwargs)

        guarded.required_role = role  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


@bp.before_request
def _check_csrf() -> None:
    if request.method == "POST":
        csrf.protect()  # 400 (CSRFError) before the view runs: nothing changes


def client_ip() -> str:
    return (request.remote_addr or "-")[:64]


def record(db_session: Any, action: str, object: str | None = None, detail: str = "", actor: str | None = None) -> None:
    """An audit row for the current request's user (or ``actor``) and IP, in ``db_session``'s transaction."""
    who = actor or (current_user.email if current_user.is_authenticated else "anonymous")
    audit(db_session, who, action, object, client_ip(), detail)


def _account_key() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_ACCOUNT, key_func=_account_key, methods=["POST"])
@limiter.limit(LOGIN_LIMIT_IP, key_func=lambda: "ip:" + client_ip(), methods=["POST"])
def login() -> Any:
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("console.overview"))
        return render_template("login.html", email="")
    email = (request.form.get("email") or "").strip().lower()[:254]
    password = request.form.get("password") or ""
    with store.writing() as db_session:
        row = db_session.scalar(select(User).where(func.lower(User.email) == email)) if email else None
        ok = passwords.verify(row.password_hash if row is not None and row.active else None, password)
        if not ok:
            record(db_session, "login_failed", email or "-", actor="anonymous")
        else:
            assert row is not None  # noqa: S101 - verify is False without a row
            record(db_session, "login", row.email, actor=row.email)
            signed_in = SignedIn(row)
            stamp = _stamp(row.password_changed_at)
    if not ok:
        flash(_("Wrong e-mail or password."), "error")
        return render_template("login.html", email=email), 401
    session.clear()
    session.permanent = True
    session["pw"] = stamp
    login_user(signed_in)
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
@requires(VIEWER)
def logout() -> Any:
    with store.writing() as db_session:
        record(db_session, "logout", current_user.email)
    logout_user()
    session.clear()
    return redirect(url_for("console.login"))


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/") and "\\" not in target:
            return target
    return url_for("console.overview")


def _stamp(moment: datetime) -> str:
    value = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return value.isoformat()
