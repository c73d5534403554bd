"""Property-based tests at the door: whatever arrives, no 500, nothing forged stored, nothing authentic dropped.

Hypothesis generates bodies (binary, broken JSON with NaN/huge numbers/duplicate keys/deep nesting,
BOMs and other encodings, damaged real samples, Rails forms), content types, extra headers and
signature formats. Deterministic (``derandomize=True``) and small, so the suite stays fast.
"""

from __future__ import annotations

import base64
import json
import time
from io import BytesIO
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import providers
from providers import celcoin, kobana, transfeera
from schemas.envelope import Envelope
from tests.helpers import (
    CELCOIN_PASSWORD,
    CELCOIN_USER,
    KOBANA_SECRET,
    MARKER,
    basic,
    kobana_signature,
    queued,
    transfeera_signature,
)
from tests.hostile import (
    BODIES,
    CONTENT_TYPES,
    EXTRA_HEADERS,
    celcoin_forgeries,
    kobana_forgeries,
    transfeera_forgeries,
)

PROPERTY = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
ENTITIES = st.sampled_from([None, "pix-payment-in", "card-created", "account-created", "x"])
ACCEPTED = {"accepted", "quarantined", "ping", "duplicate"}


class Tripwire:
    """Records any attempt to parse a body while armed (i.e. while a request is not yet authenticated)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.armed = False

    def wrap(self, name: str, original: Any) -> Any:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                self.calls.append(name)
            return original(*args, **kwargs)

        return guarded

    def post(self, client: Any, *args: Any) -> Any:
        self.armed = True
        try:
            return _post(client, *args)
        finally:
            self.armed = False


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> Tripwire:
    wire = Tripwire()
    for module in (kobana, celcoin, transfeera):
        monkeypatch.setattr(
            module, "parse_json_object", wire.wrap(f"{module.NAME}.parse_json_object", module.parse_json_object)
        )
    monkeypatch.setattr(kobana.formdecode, "decode", wire.wrap("formdecode.decode", kobana.formdecode.decode))
    monkeypatch.setattr(providers, "describe", wire.wrap("providers.describe", providers.describe))
    monkeypatch.setattr(json, "loads", wire.wrap("json.loads", json.loads))
    return wire


def _reset(redis_conn: Any) -> None:
    redis_conn.flushdb()
    redis_conn.set(MARKER, "1")


def _post(client: Any, path: str, raw: bytes, headers: dict[str, str], content_type: str) -> Any:
    # input_stream, not data=: with data=b"" and a multipart type the test client would invent a body.
    return client.post(
        path, input_stream=BytesIO(raw), content_length=len(raw), headers=headers, content_type=content_type or None
    )


def _assert_refused(response: Any, redis_conn: Any, unauthenticated_status: int) -> None:
    assert response.status_code != 500
    assert response.status_code in (unauthenticated_status, 413), response.data[:300]
    assert set(response.json) == {"error", "message"}
    assert _stored(redis_conn) == [], "something was stored for an unauthenticated request"


def _stored(redis_conn: Any) -> list[bytes]:
    """Keys beyond the test marker and the refusal counters (ops/refusals.py, for the alerts)."""
    keys = redis_conn.keys("*")
    return [k for k in keys if k != b"__webhook_receiver_tests__" and not k.startswith(b"alerts:refused")]


# --- nothing unauthenticated gets in, and it is never parsed -----------------------------------------


@PROPERTY
@given(raw=BODIES, sig=kobana_forgeries(KOBANA_SECRET), extra=EXTRA_HEADERS, content_type=CONTENT_TYPES)
def test_forged_kobana_requests_are_refused_unparsed_and_unstored(
    client, redis_conn, tripwire, raw, sig, extra, content_type
):
    """Any body with a forged, malformed or missing Kobana signature gets 498, is not parsed, stores nothing."""
    _reset(redis_conn)
    response = tripwire.post(client, "/webhooks/kobana", raw, {**extra, **sig}, content_type)
    _assert_refused(response, redis_conn, 498)
    assert tripwire.calls == []


@PROPERTY
@given(raw=BODIES, sig=transfeera_forgeries(), extra=EXTRA_HEADERS, content_type=CONTENT_TYPES)
def test_forged_transfeera_requests_are_refused_unparsed_and_unstored(
    client, redis_conn, tripwire, raw, sig, extra, content_type
):
    """Any Transfeera-Signature that does not verify gets 401 (or the probe's 200) and stores nothing."""
    _reset(redis_conn)
    response = tripwire.post(client, "/webhooks/transfeera", raw, {**extra, **sig}, content_type)
    if transfeera.is_probe({}, raw):
        assert response.status_code == 200 and response.json == {"status": "ok"}
        assert redis_conn.dbsize() == 1
    else:
        _assert_refused(response, redis_conn, 401)
    assert tripwire.calls == []


@PROPERTY
@given(
    raw=BODIES,
    auth=celcoin_forgeries(CELCOIN_USER, CELCOIN_PASSWORD),
    entity=ENTITIES,
    extra=EXTRA_HEADERS,
    content_type=CONTENT_TYPES,
)
def test_forged_celcoin_requests_are_refused_unparsed_and_unstored(
    client, redis_conn, tripwire, raw, auth, entity, extra, content_type
):
    """Malformed base64, missing colon, unicode, wrong scheme or wrong credentials: 401, nothing stored."""
    _reset(redis_conn)
    path = "/webhooks/celcoin" + (f"/{entity}" if entity else "")
    response = tripwire.post(client, path, raw, {**extra, **auth}, content_type)
    _assert_refused(response, redis_conn, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert tripwire.calls == []


@PROPERTY
@given(
    path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#%"), max_size=40),
    method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "POST", "OPTIONS"]),
    raw=BODIES,
)
def test_any_other_path_or_method_is_a_json_error(client, redis_conn, path, method, raw):
    """Unknown paths and methods are JSON 4xx errors, never a 500, never stored."""
    _reset(redis_conn)
    response = client.open("/webhooks/" + path, method=method, data=raw)
    assert 400 <= response.status_code < 500 or response.status_code in (200, 498)
    if response.status_code >= 400 and method != "OPTIONS":
        assert response.is_json and "error" in response.json
    assert _stored(redis_conn) == [] or response.status_code == 200


def test_tripwire_does_see_the_parsing_of_an_authentic_body(client, redis_conn, tripwire):
    """The tripwire is not vacuous: an authentic request is parsed, and the wire records it."""
    raw = b'{"event_code":"ping","webhook":{"id":1}}'
    response = tripwire.post(client, "/webhooks/kobana", raw, {"X-Kobana-Signature": kobana_signature(raw)}, "")
    assert response.status_code == 200
    assert "kobana.parse_json_object" in tripwire.calls


# --- nothing authentic is dropped --------------------------------------------------------------------


def _assert_kept(response: Any, redis_conn: Any, raw: bytes) -> None:
    """An authentic body is acknowledged and on a queue byte for byte (accepted or quarantined)."""
    assert response.status_code == 200, response.data[:300]
    assert response.json["status"] in ACCEPTED
    event(response.json["status"])
    jobs = queued(redis_conn) + queued(redis_conn, "quarantine")
    assert len(jobs) == 1
    [job] = jobs
    assert base64.b64decode(job["raw_b64"]) == raw
    assert job["status"] in ("received", "ping", "quarantined")
    if job["status"] != "quarantined":
        # The worker rebuilds the payload from the queued bytes: whatever the door accepted, it can read.
        payload = providers.load_payload(Envelope.from_dict(job))
        assert not _has_float(payload)


@PROPERTY
@given(raw=BODIES, extra=EXTRA_HEADERS, content_type=CONTENT_TYPES)
def test_every_authentic_kobana_body_is_accepted_or_quarantined(client, redis_conn, raw, extra, content_type):
    """A correctly signed Kobana body, however broken, is answered 200 and kept, never dropped."""
    _reset(redis_conn)
    extra.pop("X-Hub-Signature", None)
    response = _post(
        client, "/webhooks/kobana", raw, {**extra, "X-Kobana-Signature": kobana_signature(raw)}, content_type
    )
    _assert_kept(response, redis_conn, raw)


@PROPERTY
@given(raw=BODIES, extra=EXTRA_HEADERS, content_type=CONTENT_TYPES, seconds=st.booleans())
def test_every_authentic_transfeera_body_is_accepted_or_quarantined(
    client, redis_conn, raw, extra, content_type, seconds
):
    """A correctly signed Transfeera body (t in ms or s) is answered 200 and kept, never dropped."""
    _reset(redis_conn)
    t = int(time.time()) if seconds else int(time.time() * 1000)
    headers = {**extra, "Transfeera-Signature": transfeera_signature(raw, t=t)}
    response = _post(client, "/webhooks/transfeera", raw, headers, content_type)
    if transfeera.is_probe({}, raw):
        assert response.status_code == 200 and redis_conn.dbsize() == 1  # the probe, even signed, causes nothing
    else:
        _assert_kept(response, redis_conn, raw)


@PROPERTY
@given(raw=BODIES, entity=ENTITIES, extra=EXTRA_HEADERS, content_type=CONTENT_TYPES)
def test_every_authentic_celcoin_body_is_accepted_or_quarantined(client, redis_conn, raw, entity, extra, content_type):
    """A Celcoin body with the right Basic credentials is answered 200 and kept, never dropped."""
    _reset(redis_conn)
    path = "/webhooks/celcoin" + (f"/{entity}" if entity else "")
    response = _post(client, path, raw, {**extra, "Authorization": basic()}, content_type)
    _assert_kept(response, redis_conn, raw)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False
