"""Kobana / Boleto Simples at the door: signatures, envelopes, form bodies, aliases, ping."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal

import pytest
from werkzeug.datastructures import Headers

from config import Secrets, Settings
from providers import kobana, receive
from tests.helpers import KOBANA_SECRET, kobana_signature, queued, sample

TV1_SECRET = "2ef97bc3ec0bb91ba9c61afa301bda735a0fdbf2fbee154c7e738ef39be0211c"
TV1_BODY = b'{"event_code":"ping","webhook":{"id":12,"url":"http://boletosimples-webhook-test-rafael.ngrok.com/callbacks/boletosimples"}}'
FORM_PING = b"payload[event_code]=ping&payload[webhook][id]=11&payload[webhook][url]=http://requestb.in/15a0nqn1"
KOBANA_SAMPLES = [
    "bank_billet.paid.json",
    "bank_billet.paid.boleto_simples_2017.json",
    "bank_billet.paid.seed_envelope.json",
    "ping.json",
    "pix.paid.json",
    "pix.register.confirmed.json",
]


def _settings(secret: str) -> Settings:
    return Settings(kobana_secrets=Secrets([secret.encode()]))


def test_published_boleto_simples_sha1_vector_verifies():
    """TV1 (providers.md §6): the legacy X-Hub-Signature sha1 of Boleto Simples' own test suite."""
    headers = Headers({"X-Hub-Signature": "sha1=615fde3645ef3fb20da020a47e9d23044e6434be"})
    kobana.authenticate(headers, TV1_BODY, _settings(TV1_SECRET), 0)


def test_derived_sha256_and_form_vectors_verify():
    """TV3 and TV4 (providers.md §6): the current scheme over JSON and over a form body."""
    s = _settings(TV1_SECRET)
    tv3 = "sha256=ba16acccc57f0bb2a6276b3eff59ca5c64add53242677d5cc34e64ce039102f3"
    tv4 = "sha256=464d0a52bd55252c271d3f9b70fe0e46c3e74531edcf82fef9427b1ecc219a66"
    kobana.authenticate(Headers({"X-Kobana-Signature": tv3}), TV1_BODY, s, 0)
    kobana.authenticate(Headers({"X-Kobana-Signature": tv4}), FORM_PING, s, 0)


@pytest.mark.parametrize("name", KOBANA_SAMPLES)
def test_every_signed_sample_is_accepted_and_queued_byte_for_byte(deliver, redis_conn, name):
    """Each documented payload, signed as Kobana signs it, is answered 200 and queued exactly as sent."""
    raw = sample("kobana", name)
    response = deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": f"d-{name}"})
    assert response.status_code == 200
    assert response.json["status"] in ("accepted", "ping")
    [job] = queued(redis_conn)
    assert base64.b64decode(job["raw_b64"]) == raw
    assert job["provider"] == "kobana"
    assert job["idempotency_key"] == f"delivery:d-{name}"


def test_tampered_body_is_refused_with_498_and_nothing_is_queued(deliver, redis_conn):
    """A body changed after signing is refused with Kobana's 498 and nothing is queued."""
    raw = sample("kobana", "bank_billet.paid.json")
    response = deliver.kobana(raw.replace(b"349.9", b"3.49"), signature=kobana_signature(raw))
    assert response.status_code == 498
    assert response.json["error"] == "unauthenticated"
    assert queued(redis_conn) == []


def test_wrong_secret_is_refused_with_498(deliver, redis_conn):
    """A signature made with another secret is refused."""
    raw = sample("kobana", "bank_billet.paid.json")
    response = deliver.kobana(raw, signature=kobana_signature(raw, "not-the-secret"))
    assert response.status_code == 498
    assert queued(redis_conn) == []


def test_missing_signature_is_refused_with_498(client, redis_conn):
    """No X-Kobana-Signature and no legacy header: refused, nothing queued."""
    response = client.post("/webhooks/kobana", data=sample("kobana", "ping.json"), content_type="application/json")
    assert response.status_code == 498
    assert "X-Kobana-Signature" in response.json["message"]
    assert queued(redis_conn) == []


@pytest.mark.parametrize(
    "header",
    ["sha256=", "sha256=zz", "sha1=" + "a" * 40, "md5=" + "a" * 32, "sha256=" + "a" * 63, "a" * 5000, "sha256 = abc"],
    ids=["empty-hex", "not-hex", "sha1-in-new-header", "unknown-scheme", "short", "very-long", "spaces"],
)
def test_malformed_signature_header_is_refused_with_498(deliver, redis_conn, header):
    """Anything that is not ``sha256=<64 hex>`` in X-Kobana-Signature is refused, never a 500."""
    response = deliver.kobana(sample("kobana", "ping.json"), signature=header)
    assert response.status_code == 498
    assert queued(redis_conn) == []


def test_uppercase_hex_signature_is_accepted(deliver, redis_conn):
    """C# samples emit uppercase hex (providers.md §1.4): the comparison ignores hex case."""
    raw = sample("kobana", "bank_billet.paid.json")
    signature = "sha256=" + kobana_signature(raw).removeprefix("sha256=").upper()
    assert deliver.kobana(raw, signature=signature).status_code == 200


def test_header_names_are_case_insensitive(client, redis_conn):
    """Kobana does not guarantee header case; lower-case names work the same."""
    raw = sample("kobana", "bank_billet.paid.json")
    response = client.post(
        "/webhooks/kobana",
        data=raw,
        content_type="application/json",
        headers={"x-kobana-signature": kobana_signature(raw)},
    )
    assert response.status_code == 200


def test_any_of_the_rotated_secrets_is_enough(settings, redis_conn):
    """KOBANA_WEBHOOK_SECRET may list old and new secrets during a rotation."""
    from app import create_app

    rotated = settings.replace(kobana_secrets=Secrets([b"new-secret", KOBANA_SECRET.encode()]))
    client = create_app(rotated).test_client()
    for secret in ("new-secret", KOBANA_SECRET):
        raw = sample("kobana", "pix.paid.json") + b" " * len(secret)  # distinct bodies, distinct events
        response = client.post(
            "/webhooks/kobana",
            data=raw,
            content_type="application/json",
            headers={"X-Kobana-Signature": kobana_signature(raw, secret)},
        )
        assert response.status_code == 200


def test_legacy_boleto_simples_sha1_delivery_is_accepted(client, redis_conn):
    """A delivery with only X-Hub-Signature: sha1=... is verified with the same secret."""
    raw = sample("kobana", "bank_billet.paid.boleto_simples_2017.json")
    signature = "sha1=" + hmac.new(KOBANA_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    response = client.post(
        "/webhooks/kobana",
        data=raw,
        content_type="application/json",
        headers={"X-Hub-Signature": signature, "X-BoletoSimples-Delivery-Id": "bs-1"},
    )
    assert response.status_code == 200
    assert queued(redis_conn)[0]["idempotency_key"] == "delivery:bs-1"


def test_bad_new_signature_is_not_rescued_by_a_legacy_sha1(deliver, redis_conn):
    """When X-Kobana-Signature is present it alone decides: no downgrade to SHA-1."""
    raw = sample("kobana", "ping.json")
    sha1 = "sha1=" + hmac.new(KOBANA_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    response = deliver.kobana(raw, signature="sha256=" + "0" * 64, headers={"X-Hub-Signature": sha1})
    assert response.status_code == 498


def test_form_encoded_body_is_verified_raw_and_parsed_like_json(deliver, redis_conn):
    """A payload[...] form body is verified on its bytes and parses to the JSON structure."""
    raw = b"payload[event_code]=bank_billet.paid&payload[object][id]=84512377&payload[object][amount]=349.90"
    response = deliver.kobana(raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    envelope = receive(
        kobana, Headers(), raw, content_type="application/x-www-form-urlencoded", entity=None, received_at=_now()
    )
    assert envelope.event_code == "bank_billet.paid"
    assert envelope.payload["object"]["amount"] == Decimal("349.90")
    assert base64.b64decode(queued(redis_conn)[0]["raw_b64"]) == raw


def test_seed_envelope_is_normalised_to_the_documented_shape():
    """Seed 002's {event, resource, data} loads as event_code/object with the resource id."""
    raw = sample("kobana", "bank_billet.paid.seed_envelope.json")
    envelope = receive(kobana, Headers(), raw, content_type="application/json", entity=None, received_at=_now())
    assert envelope.event_code == "bank_billet.paid"
    assert envelope.payload["object"]["id"] == 123456
    assert envelope.payload["object"]["paid_amount"] == Decimal("150.5")
    assert envelope.occurred_at.isoformat() == "2025-01-15T10:30:00+00:00"


def test_amounts_are_decimal_never_float():
    """349.9 in the body is Decimal('349.9') in the payload, down to nested payments."""
    raw = sample("kobana", "bank_billet.paid.json")
    envelope = receive(kobana, Headers(), raw, content_type="application/json", entity=None, received_at=_now())
    obj = envelope.payload["object"]
    assert obj["amount"] == Decimal("349.9") and isinstance(obj["amount"], Decimal)
    assert isinstance(obj["bank_billet_payments"][0]["paid_amount"], Decimal)
    assert not _contains_float(envelope.payload)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("bank_billet_account.homologated", "bank_billet_account.homologation_started"),
        ("bank_billet_account.validated", "bank_billet_account.validation_released"),
    ],
)
def test_renamed_codes_are_canonicalised_and_the_original_kept(deliver, redis_conn, old, new):
    """Seed 001 asks receivers to accept both codes: old → new, original kept."""
    raw = f'{{"event_code":"{old}","webhook":{{"id":1}},"object":{{"id":73201}}}}'.encode()
    assert deliver.kobana(raw).status_code == 200
    [job] = queued(redis_conn)
    assert (job["event_code"], job["original_code"]) == (new, old)


def test_ping_is_answered_200_and_recorded_as_a_ping(deliver, redis_conn):
    """Kobana's ping on webhook creation is acknowledged and stored with status ping."""
    response = deliver.kobana(sample("kobana", "ping.json"))
    assert response.status_code == 200
    assert response.json["status"] == "ping"
    assert queued(redis_conn)[0]["status"] == "ping"


def test_same_delivery_twice_is_queued_once(deliver, redis_conn):
    """A redelivery with the same X-Kobana-Delivery-Id gets 200 'duplicate' and no second job."""
    raw = sample("kobana", "bank_billet.paid.json")
    first = deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "94d4eab5"})
    second = deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "94d4eab5"})
    assert (first.json["status"], second.json["status"]) == ("accepted", "duplicate")
    assert first.json["id"] == second.json["id"]
    assert len(queued(redis_conn)) == 1


def test_authentic_invalid_body_is_quarantined_and_acknowledged(deliver, redis_conn):
    """A signed body without event_code is kept in quarantine with its errors and answered 200."""
    raw = b'{"object":{"id":1,"amount":"not-money"}}'
    response = deliver.kobana(raw, headers={"X-Kobana-Event": "bank_billet.paid"})
    assert response.status_code == 200
    assert response.json["status"] == "quarantined"
    assert queued(redis_conn) == []
    [job] = queued(redis_conn, "quarantine")
    assert job["status"] == "quarantined"
    assert job["event_code"] == "bank_billet.paid"
    assert "event_code" in job["errors"] and "object" in job["errors"]
    assert base64.b64decode(job["raw_b64"]) == raw


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1,2]", b'{"event_code": NaN}', b"\xff\xfe", b"[" * 100000,
     b'{"event_code": "bank_billet.paid", "object": {"customer_person_name": "\\ud800"}}', b"\xef\xbb\xbf" * 2 + b"{}"],
    ids=["text", "array", "nan", "bad-utf8", "deep", "lone-surrogate", "two-boms"],
)  # fmt: skip
def test_authentic_unparseable_body_is_quarantined_not_refused(deliver, redis_conn, raw):
    """Even a signed body that is not a JSON object is kept, never dropped or answered 500."""
    response = deliver.kobana(raw)
    assert response.status_code == 200
    assert len(queued(redis_conn, "quarantine")) == 1


def test_a_body_after_one_byte_order_mark_is_read_as_json(deliver, redis_conn):
    """A UTF-8 byte order mark before the JSON is no reason to quarantine an authentic event."""
    raw = b"\xef\xbb\xbf" + sample("kobana", "bank_billet.paid.json")
    assert deliver.kobana(raw).json["status"] == "accepted"
    [job] = queued(redis_conn)
    assert job["event_code"] == "bank_billet.paid"


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _contains_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_contains_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_float(v) for v in value)
    return False
