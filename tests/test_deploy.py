"""Deploy settings: rediss:// with a self-signed certificate, new variables, Sentry, the sender's bodies."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import redis

import sender
from config import ConfigError, Settings
from tests.servers import redis_server
from workers.queue import connect

CELCOIN = Settings.from_env({"CELCOIN_WEBHOOK_USERNAME": "u", "CELCOIN_WEBHOOK_PASSWORD": "p"})


def test_rediss_with_a_self_signed_certificate_works_when_verification_is_off(tmp_path):
    """Managed Redis on a PaaS: rediss:// + REDIS_TLS_VERIFY=false connects and queues."""
    with redis_server(tmp_path, tls=True) as url:
        conn = connect(Settings(redis_url=url, redis_tls_verify=False))
        assert conn.ping()
        conn.close()


def test_rediss_with_a_self_signed_certificate_is_refused_when_verification_is_on(tmp_path):
    """Certificate checking stays the default: an unknown CA is not trusted silently."""
    with redis_server(tmp_path, tls=True) as url:
        conn = connect(Settings(redis_url=url))
        with pytest.raises(redis.ConnectionError):
            conn.ping()
        conn.close()


def test_web_and_metrics_variables_are_read_from_the_environment():
    """PORT, WEB_CONCURRENCY, METRICS_*, READY_MAX_QUEUE_DEPTH, SENTRY_DSN reach Settings."""
    settings = Settings.from_env(
        {
            "PORT": "5000",
            "WEB_CONCURRENCY": "3",
            "WEB_TIMEOUT": "8",
            "METRICS_TOKEN": "t0k",
            "METRICS_PORT": "9100",
            "READY_MAX_QUEUE_DEPTH": "50",
            "SENTRY_DSN": "https://key@o1.ingest.example/1",
        }
    )
    assert (settings.port, settings.web_concurrency, settings.web_timeout) == (5000, 3, 8)
    assert (settings.metrics_token, settings.metrics_port, settings.ready_max_queue_depth) == ("t0k", 9100, 50)
    assert "t0k" not in repr(settings) and "key@" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [("METRICS_TOKEN", ""), ("METRICS_PORT", "internal"), ("WEB_CONCURRENCY", "0"), ("SENTRY_DSN", "key@host/1")],
)
def test_a_bad_deploy_variable_is_a_config_error_naming_it(name, value):
    """A malformed variable stops the start with its name, not a 500 later."""
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_sentry_starts_only_with_a_dsn_and_never_sends_bodies_or_pii():
    """SENTRY_DSN set: the SDK is on without request bodies, default PII or local variables."""
    import sentry_sdk

    from ops import sentry

    assert sentry.init(Settings(), "web") is False
    try:
        assert sentry.init(Settings(sentry_dsn="https://key@o1.ingest.example/1"), "web") is True
        options = sentry_sdk.get_client().options
        assert options["max_request_body_size"] == "never"
        assert options["include_local_variables"] is False
        assert not sentry_sdk.get_client().should_send_default_pii()
        if "data_collection" in options:  # sentry-sdk >= 2.5x
            assert options["data_collection"]["http_bodies"] == []
            assert options["data_collection"]["http_headers"]["request"]["mode"] == "off"
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()


def test_sent_bodies_keep_amounts_byte_for_byte():
    """Amounts travel as the template's own text, never through a float."""
    prepared = sender.prepare("kobana", "bank_billet.paid", Settings(kobana_secrets=(b"s",)))
    assert b'"paid_amount":349.9,' in prepared.raw
    assert json.loads(prepared.raw, parse_float=Decimal)["object"]["amount"] == Decimal("349.9")


@pytest.mark.parametrize(
    ("provider", "event", "settings"),
    [
        ("kobana", "pix.paid", Settings(kobana_secrets=(b"s",))),
        ("transfeera", "TransferRefund", Settings(transfeera_secrets=(b"s",))),
        ("celcoin", "spb-transfer-in", CELCOIN),
        ("celcoin", "card-created", CELCOIN),
    ],
)
def test_each_send_is_a_new_event(provider, event, settings):
    """Two sends of one event differ in the provider's idempotency identity (body id or delivery id)."""
    first, second = (sender.prepare(provider, event, settings) for _ in range(2))
    delivery = "X-Kobana-Delivery-Id"
    assert (first.raw, first.headers.get(delivery)) != (second.raw, second.headers.get(delivery))


def test_an_unknown_event_names_the_known_ones():
    """A typo gets the list of templates, not a traceback."""
    with pytest.raises(sender.SendError, match="bank_billet.paid"):
        sender.prepare("kobana", "bank_billet.payed", Settings(kobana_secrets=(b"s",)))
