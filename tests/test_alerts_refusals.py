"""Refused deliveries: a rotated secret is noticed, said once, and said resolved once fixed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from ops import refusals
from tests.alert_helpers import Ticker, alert_settings, alerts
from tests.helpers import Deliver, basic, sample, transfeera_signature

WRONG = "sha256=" + "0" * 64


@pytest.fixture
def wired(settings, receivers):
    hook, smtp = receivers
    return alert_settings(settings, webhook=hook.url, smtp=smtp.url)


def test_wrong_secret_burst_alerts_once_then_resolves_once_after_good_deliveries(
    wired, receivers, client, work, engine, redis_conn
):
    """12 deliveries signed with a wrong secret: one alert on each channel, no repeat within the
    hour; good deliveries resume: one "resolved" on each channel, and nothing after that."""
    hook, smtp = receivers
    deliver, tick = Deliver(client), Ticker(wired, engine, redis_conn)
    for _ in range(12):
        assert deliver.kobana(sample("kobana", "bank_billet.paid.json"), signature=WRONG).status_code == 498
    start = datetime.now(UTC)

    assert tick(start).check.fired == ["refusals:kobana"]
    assert tick(start + timedelta(minutes=1)).check.fired == []
    assert deliver.kobana(sample("kobana", "bank_billet.paid.json")).status_code == 200
    work()
    assert tick(start + timedelta(minutes=11)).check.resolved == ["refusals:kobana"]
    assert tick(start + timedelta(minutes=12)).check.resolved == []

    assert len(hook.alert_texts) == 2 and len(smtp.alert_subjects) == 2
    assert hook.alert_texts[0].startswith("[ALERTA] kobana: 12 entregas recusadas em 10 min")
    assert "assinatura inválida: 12" in hook.alert_texts[0] and "KOBANA_WEBHOOK_SECRET" in hook.alert_texts[0]
    assert hook.alert_texts[1].startswith("[RESOLVIDO] kobana: entregas aceitas de novo\nEntregas de kobana aceitas")
    assert smtp.alert_subjects == [hook.alert_texts[0].split("\n")[0], hook.alert_texts[1].split("\n")[0]]
    assert [(a.key, a.status, a.sends) for a in alerts(engine)] == [("refusals:kobana", "resolved", 1)]


def test_refusals_below_the_threshold_do_not_alert(wired, client, engine, redis_conn):
    """Nine refusals in ten minutes (threshold 10) are noise, not an alert."""
    deliver = Deliver(client)
    for _ in range(9):
        deliver.celcoin(sample("celcoin", "pix-payment-in.json"), authorization=basic(password="old"))
    assert Ticker(wired, engine, redis_conn)(datetime.now(UTC)).check.fired == []


def test_a_provider_that_gave_up_stays_alerted_after_the_window(wired, receivers, client, engine, redis_conn):
    """Refusals stop because the provider gave up, not because it was fixed: still open, repeated hourly."""
    hook, _ = receivers
    deliver, tick = Deliver(client), Ticker(wired, engine, redis_conn)
    for _ in range(10):
        deliver.celcoin(sample("celcoin", "pix-payment-in.json"), authorization=basic(password="old"))
    start = datetime.now(UTC)
    tick(start)
    later = tick(start + timedelta(minutes=61)).check
    assert later.resolved == [] and later.repeated == ["refusals:celcoin"]
    redis_conn.delete(refusals.LAST + "celcoin")  # a day later Redis has forgotten the last refusal
    assert tick(start + timedelta(hours=25)).check.repeated == ["refusals:celcoin"]
    assert hook.alert_texts[1].startswith("[ALERTA, continua] celcoin:")
    assert "credenciais Basic erradas: 10" in hook.alert_texts[0]


def test_reasons_are_counted_per_category(client, redis_conn):
    """Stale timestamps, bad signatures and missing headers are told apart."""
    deliver = Deliver(client)
    raw = sample("transfeera", "Transfer.json")
    deliver.transfeera(raw, signature=transfeera_signature(raw, t=int((time.time() - 3 * 86400) * 1000)))
    deliver.transfeera(raw, signature=transfeera_signature(raw, secret="old-secret"))
    client.post("/webhooks/transfeera", data=raw, content_type="application/json")
    assert refusals.counts(redis_conn, "transfeera", time.time()) == {
        "stale_timestamp": 1,
        "bad_signature": 1,
        "missing": 1,
    }


def test_a_redis_failure_while_counting_never_changes_the_answer(client, monkeypatch):
    """Counting is best effort: with Redis refusing, the refusal is still a 498 with its JSON."""

    def broken(*args, **kwargs):
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(redis.client.Pipeline, "execute", broken)
    response = Deliver(client).kobana(sample("kobana", "bank_billet.paid.json"), signature=WRONG)
    assert response.status_code == 498
    assert response.json["error"] == "unauthenticated"
