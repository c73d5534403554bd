"""Helpers for console tests: users of each role, logging in through the real form, CSRF tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

import db
from web.console import passwords
from web.console.models import ROLES, User

PASSWORD = "correct-horse-battery-staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def email_of(role: str) -> str:
    return f"{role}@example.com"


def add_user(engine: sa.Engine, role: str, email: str | None = None, password: str = PASSWORD) -> str:
    now = datetime.now(UTC)
    email = email or email_of(role)
    with db.session_factory(engine).begin() as session:
        session.add(User(email=email, role=role, password_hash=passwords.hash_password(password), active=True,
                         created_at=now, password_changed_at=now))  # fmt: skip
    return email


def add_everyone(engine: sa.Engine) -> None:
    for role in ROLES:
        add_user(engine, role)


def csrf_token(client: Any, path: str = "/console/login") -> str:
    """The token a page's form carries (the session cookie it belongs to stays in ``client``)."""
    match = _TOKEN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: Any, role: str, password: str = PASSWORD) -> Any:
    token = csrf_token(client)
    return client.post("/console/login", data={"email": email_of(role), "password": password, "csrf_token": token})


def post(client: Any, path: str, data: dict[str, str] | None = None, page: str = "/console/") -> Any:
    """POST with a valid CSRF token taken from ``page``, as the browser's form would."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, page)})
