"""Property-based tests through the worker: whatever authentic bytes arrive, the worker stores them, never dies.

The door accepts (or quarantines) any authentic body; this follows each one through a real RQ worker
into the event log, with a handler that reads every amount the way a ledger does (to centavos).
Run it against PostgreSQL too (``TEST_DATABASE_URL``): column limits are only enforced there.
"""

from __future__ import annotations

import time
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rq.registry import FailedJobRegistry

import db
from db.models import EventRecord
from tests import effects as fx
from tests.helpers import MARKER, basic, kobana_signature, sample, transfeera_signature
from tests.hostile import BODIES, CONTENT_TYPES, EXTRA_HEADERS
from workers.queue import queues

PROPERTY = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
PATHS = st.sampled_from(
    ["/webhooks/kobana", "/webhooks/transfeera", "/webhooks/celcoin", "/webhooks/celcoin/card-created"]
    + ["/webhooks/celcoin/" + "x" * 80]
)
#: Headers a provider or a proxy in between may send long: request ids, delivery ids, event names.
LONG_HEADERS = st.dictionaries(
    st.sampled_from(["X-Request-Id", "X-Kobana-Delivery-Id", "X-Kobana-Event", "X-Kobana-Environment"]),
    st.text("abcdefghij0123456789-._:", min_size=60, max_size=300),
    max_size=3,
)
LONG_CONTENT_TYPES = st.sampled_from(["application/json; charset=utf-8; x=" + "y" * 300, "application/json"])


def centavos(event: Any, session: Any) -> None:
    """What a ledger does with money: every Decimal amount to integer centavos (raises on absurd ones)."""
    for amount in _decimals(event.payload):
        int((amount * 100).quantize(Decimal(1)))
    fx.record(event, session, "centavos")


def _decimals(value: Any) -> list[Decimal]:
    if isinstance(value, Decimal):
        return [value]
    if isinstance(value, dict):
        return [d for v in value.values() for d in _decimals(v)]
    if isinstance(value, list):
        return [d for v in value for d in _decimals(v)]
    return []


def _signed(path: str, raw: bytes) -> dict[str, str]:
    if path.endswith("kobana"):
        return {"X-Kobana-Signature": kobana_signature(raw)}
    if path.endswith("transfeera"):
        return {"Transfeera-Signature": transfeera_signature(raw, t=int(time.time() * 1000))}
    return {"Authorization": basic()}


def _reset(redis_conn: Any, engine: sa.Engine) -> None:
    redis_conn.flushdb()
    redis_conn.set(MARKER, "1")
    with engine.begin() as conn:
        conn.execute(fx.EFFECTS.delete())
        conn.execute(sa.delete(EventRecord))


@PROPERTY
@given(
    path=PATHS,
    raw=BODIES,
    content_type=CONTENT_TYPES | LONG_CONTENT_TYPES,
    extra=EXTRA_HEADERS,
    long_headers=LONG_HEADERS,
)
def test_no_authentic_body_can_break_a_worker_or_be_lost(
    client, redis_conn, engine, work, effects, registry, path, raw, content_type, extra, long_headers
):
    """Every acknowledged body ends as exactly one event-log row, never in the failed registry; effects once."""
    _reset(redis_conn, engine)
    registry.restore({})
    registry.handler("*", "*")(centavos)
    extra.pop("X-Hub-Signature", None)
    headers = {**extra, **long_headers, **_signed(path, raw)}
    response = client.post(
        path, input_stream=BytesIO(raw), content_length=len(raw), headers=headers, content_type=content_type or None
    )
    assert response.status_code in (200, 404), response.data[:300]
    if response.status_code == 404 or response.json.get("status") == "ok":  # entity path too long; the probe
        assert redis_conn.dbsize() == 1
        return
    work()
    for queue in queues(redis_conn):
        failed = FailedJobRegistry(queue=queue)
        assert failed.get_job_ids() == [], [failed.get_job_ids(), queue.name]
    with db.session_factory(engine)() as session:
        rows = list(session.scalars(sa.select(EventRecord)))
    assert len(rows) == 1
    [row] = rows
    event(f"{path.split('/')[2]} {row.status}")
    assert row.raw == raw
    assert row.status in ("processed", "quarantined", "ping")
    assert len(effects()) == (1 if row.status == "processed" else 0)


@pytest.mark.parametrize("amount", ["1e999999999", "-1E+400", "9" * 4000, "1000000000000.01", "1e-999999999"])
def test_an_absurd_amount_is_quarantined_not_handed_to_handlers(deliver, work, engine, effects, registry, amount):
    """Money no payment can carry (exponent bombs, 4,000 digits) is kept in quarantine; handlers never see it."""
    registry.handler("*", "*")(centavos)
    raw = sample("celcoin", "pix-payment-in.json").replace(b"8000.0", amount.encode())
    assert raw != sample("celcoin", "pix-payment-in.json")
    assert deliver.celcoin(raw).json["status"] == "quarantined"
    work()
    with db.session_factory(engine)() as session:
        assert session.scalar(sa.select(EventRecord.status)) == "quarantined"
    assert effects() == []


def test_an_exponent_bomb_in_a_field_no_schema_declares_is_quarantined_too(deliver, work, engine, effects, registry):
    """Handlers may read undeclared numbers (a balance): a bomb anywhere in the body quarantines it."""
    registry.handler("*", "*")(centavos)
    raw = sample("celcoin", "pix-payment-in.json").replace(b'"oldBalance":50.0', b'"oldBalance":5e999999999')
    assert b"5e999999999" in raw
    assert deliver.celcoin(raw).json["status"] == "quarantined"
    work()
    assert effects() == []
