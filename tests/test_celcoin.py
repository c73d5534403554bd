"""Celcoin at the door: Basic auth, four payload families, entity from the path, status in the key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from werkzeug.datastructures import Headers

from providers import celcoin, receive
from tests.helpers import basic, queued, sample

ENVELOPE_SAMPLES = [
    "pix-payment-in.json",
    "pix-payment-out.json",
    "pix-reversal-in.json",
    "pix-reversal-out.json",
    "spb-transfer-in.json",
    "spb-transfer-out.json",
]
LEGACY_PIX = (
    b'{"RequestBody":{"TransactionType":"RECEIVEPIX","TransactionId":761679887,"Amount":8000.00,'
    b'"EndToEndId":"E1393589320230727130301498341234","StatusCode":{"Description":"confirmed","StatusId":2}}}'
)


def _receive(raw: bytes, entity: str | None = None):
    return receive(
        celcoin, Headers(), raw, content_type="application/json", entity=entity, received_at=datetime.now(UTC)
    )


@pytest.mark.parametrize("name", ENVELOPE_SAMPLES)
def test_every_authenticated_sample_is_accepted_and_queued_byte_for_byte(deliver, redis_conn, name):
    raw = sample("celcoin", name)
    response = deliver.celcoin(raw)
    assert response.status_code == 200 and response.json["status"] == "accepted"
    [job] = queued(redis_conn)
    assert base64.b64decode(job["raw_b64"]) == raw
    assert job["event_code"] == name.removesuffix(".json")


@pytest.mark.parametrize("name", ["account-created.flat.json", "card-created.flat.json"])
def test_flat_cel_card_body_takes_its_entity_from_the_path(deliver, redis_conn, name):
    """cel_card bodies carry no entity; Celcoin registers one URL per entity, so the path names it."""
    entity = name.split(".")[0]
    response = deliver.celcoin(sample("celcoin", name), entity=entity)
    assert response.status_code == 200 and response.json["status"] == "accepted"
    [job] = queued(redis_conn)
    assert job["event_code"] == entity and job["entity"] == entity


def test_flat_body_without_entity_in_path_is_quarantined(deliver, redis_conn):
    response = deliver.celcoin(sample("celcoin", "card-created.flat.json"))
    assert response.status_code == 200 and response.json["status"] == "quarantined"
    assert "entity" in str(queued(redis_conn, "quarantine")[0]["errors"])


def test_seven_digit_fraction_without_offset_parses_as_utc():
    envelope = _receive(sample("celcoin", "spb-transfer-in.json"))
    assert envelope.occurred_at == datetime(2023, 7, 27, 9, 10, 29, 558763, tzinfo=UTC)


def test_status_is_part_of_the_idempotency_key():
    """The same Pix arrives PENDING then CONFIRMED: two distinct events, not a duplicate."""
    confirmed = sample("celcoin", "pix-payment-out.json")
    pending = confirmed.replace(b'"CONFIRMED"', b'"PENDING"')
    a, b = _receive(confirmed), _receive(pending)
    assert a.idempotency_key != b.idempotency_key
    assert a.idempotency_key == "pix-payment-out:7d89772a-6fbe-4cbf-a3c3-fc7f31aa63c9:CONFIRMED"


def test_legacy_request_body_shape_is_accepted():
    envelope = _receive(LEGACY_PIX)
    assert (envelope.event_code, envelope.original_code) == ("pix-payment-in", "RECEIVEPIX")
    assert envelope.payload["RequestBody"]["Amount"] == Decimal("8000.00")
    assert envelope.idempotency_key == "pix-payment-in:E1393589320230727130301498341234:confirmed"


def test_webhook_id_shape_is_keyed_by_webhook_id():
    raw = b'{"webhookId":"InfractionBlock-dc9c","body":{"blockId":"123","amounts":{"requestedBlockAmount":100}}}'
    envelope = _receive(raw, entity="pix-med-balance-blocked")
    assert envelope.status == "received"
    assert envelope.idempotency_key == "pix-med-balance-blocked:InfractionBlock-dc9c:-"


def test_amounts_are_decimal():
    envelope = _receive(sample("celcoin", "spb-transfer-in.json"))
    assert envelope.payload["body"]["amount"] == Decimal("872.03")


@pytest.mark.parametrize(
    "authorization",
    [
        basic("celcoin-user", "wrong"),
        basic("wrong", "s3nh@-Celcoin"),
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"celcoin-user").decode(),
        "Bearer abc",
        "Basic",
        "Basic " + base64.b64encode("usér:sénha".encode()).decode(),
    ],
    ids=["wrong-password", "wrong-user", "bad-base64", "no-colon", "wrong-scheme", "no-token", "unicode"],
)
def test_bad_credentials_get_401_with_www_authenticate(deliver, redis_conn, authorization):
    response = deliver.celcoin(sample("celcoin", "pix-payment-in.json"), authorization=authorization)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert queued(redis_conn) == []


def test_missing_authorization_gets_401(client, redis_conn):
    response = client.post(
        "/webhooks/celcoin", data=sample("celcoin", "pix-payment-in.json"), content_type="application/json"
    )
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_entity_path_must_be_a_plain_name(deliver):
    response = deliver.client.post("/webhooks/celcoin/..%2Fetc", data=b"{}", headers={"Authorization": basic()})
    assert response.status_code == 404


def test_an_absurd_amount_is_quarantined_not_accepted(deliver, redis_conn):
    """A Pix of 123 trillion reais is authentic nonsense: kept in quarantine for an operator, never processed."""
    raw = sample("celcoin", "pix-payment-in.json").replace(b'"amount":8000.0', b'"amount":123456789012345.67')
    assert b"123456789012345.67" in raw
    response = deliver.celcoin(raw)
    assert response.status_code == 200 and response.json["status"] == "quarantined"
