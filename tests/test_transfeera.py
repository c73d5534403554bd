"""Transfeera at the door: t=<ms>,v1=<hex> over ``t.body``, tolerance window, the unsigned probe."""

from __future__ import annotations

import base64
import time

import pytest
from werkzeug.datastructures import Headers

from config import Secrets, Settings
from providers import transfeera
from providers.errors import Unauthenticated
from tests.helpers import TRANSFEERA_SECRET, queued, sample, transfeera_signature

SAMPLES = ["Transfer.json", "TransferRefund.json", "CashIn.json", "CashInRefund.json"]
TV2_BODY = b'{"testing":true,"someString":"string-value"}'
TV2_HEADER = "t=1580306991086,v1=348a92ec7864e30fc9cf3ea91b2e6e1392a14c8379103cb1d8e48e39334a4fd8"


def _settings(secret: str, tolerance: int = 24 * 3600) -> Settings:
    return Settings(transfeera_secrets=Secrets([secret.encode()]), transfeera_tolerance_seconds=tolerance)


def test_published_transfeera_vector_verifies():
    """TV2 (providers.md §6): the docs' own Node.js example, checked at its own time."""
    transfeera.authenticate(
        Headers({"Transfeera-Signature": TV2_HEADER}), TV2_BODY, _settings("my-secret"), now=1580306991.086
    )


def test_derived_cashin_vector_verifies():
    """TV5 (providers.md §6): a compact CashIn envelope signed with the docs' example secret."""
    body = (
        b'{"id":"7d3aae40-6655-4d9a-801b-d0ab7ae906d7","version":"v1","account_id":"d95e7630-1b3c-4ac5-991d-'
        b'd599d75efdd0","object":"CashIn","date":"2019-10-01T17:54:39.000Z","data":{"id":"7d3aae40-6655-4d9a-'
        b'801b-d0ab7ae906d7","value":50.54,"end2end_id":"E12345asdf123","txid":"abc123","integration_id":"abc123"}}'
    )
    header = "t=1569952479000,v1=38eb827fbee511ad325550b5ce4bac3138024e87e5f6d119b9023a84a0ba31b7"
    secret = "5d55729305b197168018fcff2a18e99f78ab8dd4efd03b6e895cf08bf104bca204944e45"
    transfeera.authenticate(Headers({"Transfeera-Signature": header}), body, _settings(secret), now=1569952480)


@pytest.mark.parametrize("name", SAMPLES)
def test_every_signed_sample_is_accepted_and_queued_byte_for_byte(deliver, redis_conn, name):
    """Each documented object type is accepted, keyed by the envelope id, and queued as sent."""
    raw = sample("transfeera", name)
    response = deliver.transfeera(raw)
    assert response.status_code == 200 and response.json["status"] == "accepted"
    [job] = queued(redis_conn)
    assert base64.b64decode(job["raw_b64"]) == raw
    assert job["event_code"] == name.removesuffix(".json")
    assert job["idempotency_key"] == "event:7d3aae40-6655-4d9a-801b-d0ab7ae906d7"
    assert job["occurred_at"] == "2019-10-01T17:54:39+00:00"


def test_tampered_body_is_refused_with_401(deliver, redis_conn):
    raw = sample("transfeera", "Transfer.json")
    response = deliver.transfeera(raw.replace(b'"value":100', b'"value":900'), signature=transfeera_signature(raw))
    assert response.status_code == 401
    assert response.json["error"] == "unauthenticated"
    assert queued(redis_conn) == []


def test_wrong_secret_is_refused(deliver, redis_conn):
    raw = sample("transfeera", "CashIn.json")
    assert deliver.transfeera(raw, signature=transfeera_signature(raw, "other")).status_code == 401


def test_any_of_several_v1_signatures_is_enough(deliver, redis_conn):
    """The header may carry several v1 values during a rotation; one match is enough."""
    raw = sample("transfeera", "CashIn.json")
    t = int(time.time() * 1000)
    good = transfeera_signature(raw, t=t).split("v1=")[1]
    header = f"t={t},v1={'0' * 64},v0={good},v1={good}"
    assert deliver.transfeera(raw, signature=header).status_code == 200


def test_other_schemes_are_ignored(deliver, redis_conn):
    """A correct digest under a non-v1 scheme does not count (downgrade protection, §3.2)."""
    raw = sample("transfeera", "CashIn.json")
    t = int(time.time() * 1000)
    good = transfeera_signature(raw, t=t).split("v1=")[1]
    assert deliver.transfeera(raw, signature=f"t={t},v0={good}").status_code == 401


def test_rotated_secrets_each_verify(settings, redis_conn):
    from app import create_app

    client = create_app(
        settings.replace(transfeera_secrets=Secrets([b"new", TRANSFEERA_SECRET.encode()]))
    ).test_client()
    raw = sample("transfeera", "Transfer.json")
    for secret in ("new", TRANSFEERA_SECRET):
        response = client.post(
            "/webhooks/transfeera",
            data=raw,
            content_type="application/json",
            headers={"Transfeera-Signature": transfeera_signature(raw, secret)},
        )
        assert response.status_code == 200


def test_stale_timestamp_is_refused(deliver, redis_conn):
    """A correctly signed body older than the tolerance window is refused (replay protection)."""
    raw = sample("transfeera", "Transfer.json")
    two_days_ago = int((time.time() - 2 * 86400) * 1000)
    response = deliver.transfeera(raw, signature=transfeera_signature(raw, t=two_days_ago))
    assert response.status_code == 401
    assert "tolerance" in response.json["message"]


def test_timestamp_within_the_window_is_accepted():
    """A retry signed an hour ago is still inside the 24 h default window."""
    raw = sample("transfeera", "Transfer.json")
    t = 1_700_000_000_000
    header = transfeera_signature(raw, t=t)
    transfeera.authenticate(
        Headers({"Transfeera-Signature": header}), raw, _settings(TRANSFEERA_SECRET), now=t / 1000 + 3600
    )


def test_future_timestamp_beyond_skew_is_refused():
    raw = sample("transfeera", "Transfer.json")
    t = 1_700_000_000_000
    with pytest.raises(Unauthenticated, match="future"):
        transfeera.authenticate(
            Headers({"Transfeera-Signature": transfeera_signature(raw, t=t)}),
            raw,
            _settings(TRANSFEERA_SECRET),
            now=t / 1000 - 3600,
        )


def test_timestamp_in_seconds_is_read_as_seconds():
    """A 10-digit t is seconds; the HMAC covers the digits as sent either way."""
    raw = sample("transfeera", "Transfer.json")
    header = transfeera_signature(raw, t=1_700_000_000)
    transfeera.authenticate(
        Headers({"Transfeera-Signature": header}), raw, _settings(TRANSFEERA_SECRET), now=1_700_000_010
    )


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=,v1=",
        "v1=" + "a" * 64,
        "t=1700000000000",
        "t=abc,v1=" + "a" * 64,
        "t=1700000000000,v1=xyz",
        "garbage",
        "t=1,v1=" + "a" * 64,
        "x" * 10000,
    ],
    ids=["empty", "blank-values", "no-t", "no-v1", "t-not-digits", "v1-not-hex", "garbage", "t-too-short", "very-long"],
)
def test_malformed_header_is_refused_with_401(deliver, redis_conn, header):
    response = deliver.transfeera(sample("transfeera", "Transfer.json"), signature=header)
    assert response.status_code == 401
    assert queued(redis_conn) == []


def test_unsigned_test_probe_gets_200_and_causes_nothing(client, redis_conn):
    """Creating a webhook URL POSTs an unsigned {"test": true}: 200, nothing queued."""
    response = client.post(
        "/webhooks/transfeera", data=sample("transfeera", "test_probe.json"), content_type="application/json"
    )
    assert response.status_code == 200
    assert queued(redis_conn) == [] and queued(redis_conn, "quarantine") == []
    assert redis_conn.dbsize() == 1  # only the test marker


def test_any_other_unsigned_body_is_refused(client, redis_conn):
    response = client.post("/webhooks/transfeera", data=b'{"test": true, "x": 1}', content_type="application/json")
    assert response.status_code == 401
    assert queued(redis_conn) == []


def test_authentic_body_missing_id_is_quarantined(deliver, redis_conn):
    raw = b'{"object":"Transfer","data":{"id":"1","value":10}}'
    response = deliver.transfeera(raw)
    assert response.status_code == 200 and response.json["status"] == "quarantined"
    assert "id" in queued(redis_conn, "quarantine")[0]["errors"]


def test_probe_passes_before_the_secret_is_configured(settings, redis_conn):
    """Registration returns the secret only after the probe got 2xx, so a disabled Transfeera still answers it."""
    from app import create_app

    client = create_app(settings.replace(transfeera_secrets=None)).test_client()
    assert client.post("/webhooks/transfeera", data=b'{"test": true}').status_code == 200
    assert client.post("/webhooks/transfeera", data=sample("transfeera", "CashIn.json")).status_code == 404
    assert queued(redis_conn) == []
