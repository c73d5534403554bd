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


def underpaid_boleto(engine: sa.Engine, paid: str = "300", key: str = "p", updated_at: str | None = None) -> list[Any]:
    """Kobana's boleto 84512377 (R$ 349,90) created, then paid ``paid``: an ``underpaid`` discrepancy."""
    from decimal import Decimal

    from tests.ledger_helpers import body
    from tests.test_ledger_handlers import created, deliver

    payment = body("kobana", "bank_billet.paid.json")["object"]["bank_billet_payments"][0] | {
        "paid_amount": Decimal(paid)
    }
    changes: dict[str, Any] = {"object.bank_billet_payments": [payment]}
    if updated_at:
        changes["object.updated_at"] = updated_at
    short = body("kobana", "bank_billet.paid.json", **changes)
    items = [("kobana", short, key)] if key != "p" else [("kobana", created(), "c"), ("kobana", short, key)]
    return deliver(engine, *items)  # type: ignore[no-any-return]


def quarantined_event(engine: sa.Engine, key: str = "q-1") -> int:
    """An authentic Kobana body stored as quarantined (validation failed then; it validates now)."""
    from db.models import QUARANTINED, EventRecord
    from tests.helpers import sample

    raw = sample("kobana", "bank_billet.paid.json")
    now = datetime.now(UTC)
    with db.session_factory(engine).begin() as session:
        row = EventRecord(provider="kobana", event_code="bank_billet.paid", original_code="bank_billet.paid",
                          idempotency_key=f"quarantine:{key}", status=QUARANTINED, received_at=now, stored_at=now,
                          raw=raw, content_type="application/json", delivery={"delivery_id": key},
                          validation_errors={"object": {"amount": ["Not a valid number."]}}, attempts=0)  # fmt: skip
        session.add(row)
        session.flush()
        return int(row.id)
