"""Who may do what in the console, and the protections around it (issue 12 "Users, roles, security")."""

from __future__ import annotations

import re
import time
from typing import Literal

import pytest
import sqlalchemy as sa
from argon2 import Parameters, PasswordHasher, extract_parameters

import db
from config import ConfigError, Settings
from tests.console_helpers import PASSWORD, add_everyone, add_user, csrf_token, email_of, login
from web.console import passwords
from web.console.models import AuditEntry

ANON, VIEWER, OPERATOR, ADMIN = None, "viewer", "operator", "admin"
#: Every console route, with the least role that may use it. A new route must be added here.
ROUTES = [
    ("GET", "/console/", VIEWER),
    ("GET", "/console/reconciliation?from=2026-10-01&to=2026-10-31", VIEWER),
    ("GET", "/console/reconciliation.csv?from=2026-10-01&to=2026-10-31", VIEWER),
    ("GET", "/console/reconciliation.xlsx?from=2026-10-01&to=2026-10-31", VIEWER),
    ("GET", "/console/discrepancies", VIEWER),
    ("GET", "/console/discrepancies/999", VIEWER),
    ("POST", "/console/discrepancies/999/acknowledge", VIEWER),
    ("POST", "/console/discrepancies/999/resolve", VIEWER),
    ("POST", "/console/discrepancies/999/reopen", VIEWER),
    ("GET", "/console/objects/kobana:84512377", VIEWER),
    ("GET", "/console/events", VIEWER),
    ("GET", "/console/events/999", VIEWER),
    ("GET", "/console/quarantine", VIEWER),
    ("POST", "/console/language", VIEWER),
    ("POST", "/console/events/999/reveal", OPERATOR),
    ("POST", "/console/events/999/replay", OPERATOR),
    ("GET", "/console/events/replay?status=failed", OPERATOR),
    ("POST", "/console/events/replay", OPERATOR),
    ("GET", "/console/audit", ADMIN),
    ("GET", "/console/users", ADMIN),
    ("POST", "/console/users", ADMIN),
    ("POST", "/console/users/999/disable", ADMIN),
]
RANK = {ANON: 0, VIEWER: 1, OPERATOR: 2, ADMIN: 3}


def test_every_console_route_is_in_the_authorization_table(app):
    """A route added without an entry in ROUTES (and so without a test of who may use it) fails here."""
    tested = {(method, path.split("?")[0]) for method, path, _role in ROUTES}
    adapter = app.url_map.bind("localhost")
    for method, path in tested:
        adapter.match(path, method=method)  # raises if the table names a route that does not exist
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("console.")}
    matched = {adapter.match(path, method=method)[0] for method, path in tested}
    assert endpoints - matched == {"console.login", "console.logout", "console.static"}


@pytest.mark.parametrize("role", [ANON, VIEWER, OPERATOR, ADMIN])
def test_each_role_reaches_exactly_its_routes(app, engine, role):
    """Anonymous → the login page; a role below the route's → 403; at or above → the view runs."""
    add_everyone(engine)
    client = app.test_client()
    if role:
        assert login(client, role).status_code == 302
    token = csrf_token(client, "/console/" if role else "/console/login")
    for method, path, least in ROUTES:
        response = client.get(path) if method == "GET" else client.post(path, data={"csrf_token": token})
        where = f"{method} {path} as {role}"
        if role is None:
            assert response.status_code == 302, where
            assert response.headers["Location"].startswith("/console/login"), where
        elif RANK[role] < RANK[least]:
            assert response.status_code == 403, where
        else:
            assert response.status_code not in (302, 401, 403) or not response.headers.get("Location", "").startswith(
                "/console/login"
            ), where
            assert response.status_code != 403, where


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(app, client, engine):
    add_everyone(engine)
    login(client, ADMIN)
    response = client.post("/console/users", data={"email": "new@example.com", "role": "viewer",
                                                   "password": "a-long-enough-password"})  # fmt: skip
    assert response.status_code == 400
    form = {"email": "new@example.com", "role": "viewer", "password": "a-long-enough-password", "csrf_token": "forged"}
    response = client.post("/console/users", data=form)
    assert response.status_code == 400
    with db.session_factory(engine)() as session:
        assert session.scalar(sa.text("select count(*) from console_users where email = 'new@example.com'")) == 0


def test_a_login_without_csrf_token_is_refused(app, client, engine):
    add_user(engine, VIEWER)
    response = client.post("/console/login", data={"email": email_of(VIEWER), "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/console/").status_code == 302


class _CountingHasher(PasswordHasher):
    """argon2id as the console uses it, also noting the parameters of every hash it verifies against."""

    def __init__(self) -> None:
        super().__init__()
        self.verified: list[Parameters] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(extract_parameters(hash if isinstance(hash, str) else hash.decode()))
        return super().verify(hash, password)


def test_wrong_password_and_unknown_email_get_the_same_answer(app, client, engine, monkeypatch):
    """Same status, same page, and the same work: one argon2 verification at the same cost, so the
    answer's timing does not tell whether the e-mail exists (counted, not timed: a timer on a shared
    machine is noise)."""
    add_user(engine, VIEWER)
    token = csrf_token(client)
    hasher = _CountingHasher()
    monkeypatch.setattr(passwords, "_HASHER", hasher)
    answers, work = [], []
    for email, password in ((email_of(VIEWER), "wrong-password-123"), ("nobody@example.com", "wrong-password-123")):
        hasher.verified.clear()
        response = client.post("/console/login", data={"email": email, "password": password, "csrf_token": token})
        work.append(list(hasher.verified))
        page = re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))
        answers.append((response.status_code, page.replace(email, "EMAIL")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401
    assert len(work[0]) == 1 and work[0] == work[1]


def test_logins_are_throttled_per_account_with_retry_after(app, client, engine):
    add_user(engine, VIEWER)
    token = csrf_token(client)
    statuses = [client.post("/console/login", data={"email": email_of(VIEWER), "password": "wrong-password-123",
                                                    "csrf_token": token}).status_code for _ in range(6)]  # fmt: skip
    assert statuses == [401] * 5 + [429]
    response = client.post("/console/login", data={"email": email_of(VIEWER), "password": PASSWORD,
                                                   "csrf_token": token})  # fmt: skip
    assert response.status_code == 429  # even the right password waits: the account is being guessed
    assert int(response.headers["Retry-After"]) > 0


def test_logins_are_throttled_per_ip_across_accounts(app, client, engine):
    token = csrf_token(client)
    statuses = [client.post("/console/login", data={"email": f"guess{n}@example.com", "password": "x" * 12,
                                                    "csrf_token": token}).status_code for n in range(21)]  # fmt: skip
    assert statuses[-1] == 429 and set(statuses[:20]) == {401}


def test_login_logout_and_failures_are_audited_with_ip(app, client, engine):
    add_user(engine, VIEWER)
    token = csrf_token(client)
    client.post(
        "/console/login", data={"email": email_of(VIEWER), "password": "wrong-password-123", "csrf_token": token}
    )
    login(client, VIEWER)
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    with db.session_factory(engine)() as session:
        rows = [
            (a.actor, a.action, a.object, a.ip) for a in session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert rows == [
        ("anonymous", "login_failed", email_of(VIEWER), "127.0.0.1"),
        (email_of(VIEWER), "login", email_of(VIEWER), "127.0.0.1"),
        (email_of(VIEWER), "logout", email_of(VIEWER), "127.0.0.1"),
    ]


def test_every_console_response_carries_the_security_headers(app, client, engine):
    add_user(engine, VIEWER)
    login(client, VIEWER)
    for path in ("/console/login", "/console/", "/console/events", "/console/nothing-here-at-all"):
        response = client.get(path)
        if path.endswith("nothing-here-at-all"):
            continue  # not a console route: the app's JSON 404
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'"), path
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(app, engine, settings):
    from app import create_app

    add_user(engine, VIEWER)
    behind_router = create_app(settings.replace(proxy_hops=1))
    client = behind_router.test_client()
    token = csrf_token(client)
    form = {"email": email_of(VIEWER), "password": PASSWORD, "csrf_token": token}
    https = {"X-Forwarded-Proto": "https", "Referer": "https://localhost/console/login"}  # as a browser sends them
    response = client.post("/console/login", data=form, headers=https)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    plain = app.test_client()
    plain.get("/console/login")
    token = csrf_token(plain)
    cookie = plain.post("/console/login", data={"email": email_of(VIEWER), "password": PASSWORD,
                                                "csrf_token": token}).headers["Set-Cookie"]  # fmt: skip
    assert "Secure" not in cookie  # a laptop on http://127.0.0.1 still logs in
    behind_router.extensions["console_engine"].dispose()


def test_a_session_ends_after_the_idle_hours(app, client, engine):
    add_user(engine, VIEWER)
    login(client, VIEWER)
    assert client.get("/console/").status_code == 200
    assert app.permanent_session_lifetime.total_seconds() == 12 * 3600
    app.permanent_session_lifetime = __import__("datetime").timedelta(seconds=1)
    client.get("/console/")  # refreshes the cookie with the short lifetime
    time.sleep(2.1)
    assert client.get("/console/").status_code == 302


def test_a_disabled_user_is_logged_out_at_the_next_request(app, client, engine):
    add_user(engine, VIEWER)
    login(client, VIEWER)
    with db.session_factory(engine).begin() as session:
        session.execute(sa.text("update console_users set active = false"))
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize("value", [None, "short"])
def test_the_web_refuses_to_start_without_a_long_secret_key(value):
    env = {"SECRET_KEY": value} if value else {}
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env(env).require_secret_key()


def test_the_door_needs_no_console_session(app, client, deliver):
    """The webhook door keeps answering as before: no cookie set, no CSRF asked."""
    from tests.helpers import sample

    response = deliver.kobana(sample("kobana", "bank_billet.paid.json"), headers={"X-Kobana-Delivery-Id": "d-1"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("value", [None, "too-short"])
def test_the_wsgi_entry_point_stops_with_one_line_naming_secret_key(value):
    """``import wsgi`` (what gunicorn does) without a usable SECRET_KEY: exit, one line, no traceback."""
    import os
    import subprocess
    import sys

    from config import PROJECT_ROOT

    env = {"PATH": os.environ.get("PATH", ""), "REDIS_URL": "redis://127.0.0.1:1/0"}
    if value:
        env["SECRET_KEY"] = value
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_flask_command_line_needs_no_secret_key(tmp_path):
    """``python -m flask --app wsgi …`` runs one command and serves no session: no SECRET_KEY asked."""
    import os
    import subprocess
    import sys

    from config import PROJECT_ROOT

    env = {"PATH": os.environ.get("PATH", ""), "VAR_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "users", "list"], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "SECRET_KEY" not in result.stderr, result.stderr


def test_the_extensions_request_hooks_are_the_console_blueprints_and_the_door_runs_none(app):
    """CSRF, login and rate-limit hooks run for console routes only; a webhook request does not even
    call them (each app-wide hook costs every acknowledgement a call: bench/results.md)."""
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    extensions = ("CSRFProtect.", "LoginManager.", "Limiter.")

    def names(scope):  # Flask-Limiter registers a functools.partial too: name what it wraps
        return {getattr(f, "func", f).__qualname__ for registry in registries for f in registry.get(scope, [])}

    assert not {name for name in names(None) if name.startswith(extensions)}
    assert {prefix for prefix in extensions if any(n.startswith(prefix) for n in names("console"))} == set(extensions)
