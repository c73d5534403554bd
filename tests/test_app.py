"""The service as a whole: configuration, status codes, the never-lose rule."""

from __future__ import annotations

import pytest
import redis

from app import create_app
from config import ConfigError, Settings
from tests.helpers import Deliver, basic, kobana_signature, queued, sample


def test_readme_curl_example_is_accepted(client, redis_conn):
    """The README's first curl line: a signed Kobana bank_billet.paid answered 200 'accepted'."""
    raw = sample("kobana", "bank_billet.paid.json")
    response = client.post(
        "/webhooks/kobana",
        data=raw,
        content_type="application/json",
        headers={"X-Kobana-Signature": kobana_signature(raw)},
    )
    assert response.status_code == 200
    assert response.json["status"] == "accepted"
    assert response.json["id"].startswith("kobana-")


def test_unknown_provider_is_404_json(client):
    response = client.post("/webhooks/stripe", data=b"{}")
    assert response.status_code == 404
    assert response.json["error"] == "not_found"


def test_wrong_method_is_405_json(client):
    response = client.get("/webhooks/kobana")
    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"


def test_disabled_provider_answers_404(settings, redis_conn):
    client = create_app(settings.replace(kobana_secrets=None)).test_client()
    raw = sample("kobana", "ping.json")
    response = client.post("/webhooks/kobana", data=raw, headers={"X-Kobana-Signature": kobana_signature(raw)})
    assert response.status_code == 404
    assert response.json["error"] == "provider_disabled"
    assert queued(redis_conn) == []


def test_body_over_the_limit_is_413_and_nothing_is_queued(settings, redis_conn):
    client = create_app(settings.replace(max_body_bytes=2048)).test_client()
    raw = b'{"event_code":"ping","pad":"' + b"x" * 4096 + b'"}'
    response = client.post(
        "/webhooks/kobana",
        data=raw,
        content_type="application/json",
        headers={"X-Kobana-Signature": kobana_signature(raw)},
    )
    assert response.status_code == 413
    assert response.json["error"] == "body_too_large"
    assert queued(redis_conn) == []


@pytest.mark.parametrize(
    ("provider", "body", "status"),
    [
        ("kobana", "bank_billet.paid.json", 500),
        ("celcoin", "pix-payment-in.json", 503),
        ("transfeera", "Transfer.json", 503),
    ],
)
def test_redis_down_answers_a_status_the_provider_retries_with_retry_after(
    settings, redis_conn, provider, body, status
):
    """When the event cannot be put in Redis the provider is told to retry, never 2xx: a 503, but
    a 500 to Kobana, which retries only a 500 (providers.md §1.7) and drops the event on a 503."""
    down = settings.replace(redis_url="redis://127.0.0.1:1/0")
    send = getattr(Deliver(create_app(down).test_client()), provider)
    response = send(sample(provider, body))
    assert response.status_code == status
    assert response.json["error"] == "queue_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert queued(redis_conn) == []


def test_enqueue_failure_midway_answers_503(settings, redis_conn, monkeypatch):
    """A Redis error during the append itself (not just a refused connection) is a 503."""
    from workers import stream

    def refuse(*args, **kwargs):
        raise redis.ConnectionError("connection reset")

    monkeypatch.setattr(stream, "append", refuse)
    client = create_app(settings).test_client()
    response = client.post(
        "/webhooks/celcoin",
        data=sample("celcoin", "pix-payment-in.json"),
        headers={"Authorization": basic()},
        content_type="application/json",
    )
    assert response.status_code == 503


def test_error_bodies_never_echo_secrets(deliver):
    raw = sample("kobana", "ping.json")
    response = deliver.kobana(raw, signature=kobana_signature(raw, "wrong"))
    assert b"kobana-test-secret" not in response.data
    assert set(response.json) == {"error", "message"}


def test_incoming_request_id_is_echoed(deliver):
    response = deliver.kobana(sample("kobana", "ping.json"), headers={"X-Request-Id": "req-123"})
    assert response.headers["X-Request-Id"] == "req-123"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"KOBANA_WEBHOOK_SECRET": ""}, "KOBANA_WEBHOOK_SECRET"),
        ({"KOBANA_WEBHOOK_SECRET": "a,,b"}, "KOBANA_WEBHOOK_SECRET"),
        ({"TRANSFEERA_WEBHOOK_SECRET": "  "}, "TRANSFEERA_WEBHOOK_SECRET"),
        ({"CELCOIN_WEBHOOK_USERNAME": "u"}, "CELCOIN_WEBHOOK_PASSWORD"),
        ({"MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_TLS_VERIFY": "maybe"}, "REDIS_TLS_VERIFY"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ],
)
def test_bad_configuration_stops_start_up_naming_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_secrets_are_split_on_commas_and_stripped():
    settings = Settings.from_env({"KOBANA_WEBHOOK_SECRET": " old , new\n"})
    assert tuple(settings.kobana_secrets) == (b"old", b"new")
    assert "old" not in repr(settings)


def test_an_empty_environment_gives_the_dataclass_defaults():
    """Each default is written once, on ``Settings``: ``from_env`` reads it from there."""
    assert Settings.from_env({}) == Settings()


def test_unset_credentials_disable_the_provider():
    assert Settings.from_env({"KOBANA_WEBHOOK_SECRET": "x"}).enabled_providers == ("kobana",)


def test_heroku_postgres_url_gets_an_explicit_driver():
    settings = Settings.from_env({"DATABASE_URL": "postgres://u:p@h:5432/d"})
    assert settings.database_url == "postgresql+psycopg://u:p@h:5432/d"


def test_provider_signers_reproduce_the_published_vectors():
    """Each provider's ``sign`` (which its ``authenticate`` is built from) gives the providers' own examples."""
    from config import CelcoinCreds, Secrets
    from providers import celcoin, kobana, transfeera

    tv2 = transfeera.sign(b'{"testing":true,"someString":"string-value"}', Secrets([b"my-secret"]), 1580306991.086)
    assert tv2 == {
        "Transfeera-Signature": "t=1580306991086,v1=348a92ec7864e30fc9cf3ea91b2e6e1392a14c8379103cb1d8e48e39334a4fd8"
    }
    tv1_secret = b"2ef97bc3ec0bb91ba9c61afa301bda735a0fdbf2fbee154c7e738ef39be0211c"
    tv1_body = (
        b'{"event_code":"ping","webhook":{"id":12,"url":"http://boletosimples-webhook-test-rafael.ngrok.com/callbacks/'
        b'boletosimples"}}'
    )
    assert kobana.sign(tv1_body, Secrets([tv1_secret]), 0) == {
        "X-Kobana-Signature": "sha256=ba16acccc57f0bb2a6276b3eff59ca5c64add53242677d5cc34e64ce039102f3"
    }
    # RFC 7617 §2's own example: Aladdin / open sesame.
    assert celcoin.sign(b"{}", CelcoinCreds(b"Aladdin", b"open sesame"), 0) == {
        "Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    }


@pytest.mark.parametrize("status", ["accepted", "duplicate", "quarantined", "ping"])
def test_the_answer_is_byte_for_byte_what_jsonify_sends(app, status):
    """The view builds its 200 itself (cheaper); a client sees exactly what jsonify would send."""
    from flask import jsonify

    from web import webhooks
    from web.outcome import Outcome

    with app.app_context():
        expected = jsonify(status=status, id="kobana-0123abc_-")
    got = webhooks._answer(Outcome(status), "kobana-0123abc_-")
    assert got.get_data() == expected.get_data()
    assert got.headers == expected.headers
