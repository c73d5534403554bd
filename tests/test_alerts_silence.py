"""Silence: a provider that stopped sending is noticed in business time, with a controlled clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.alert_helpers import Ticker, alert_settings, alerts, sao_paulo, store_event
from tests.alert_receivers import WebhookReceiver
from workers.alerts.hours import business_time, is_open

MONDAY = (2026, 11, 23)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (sao_paulo(*MONDAY, 9, 0), sao_paulo(*MONDAY, 15, 0), timedelta(hours=6)),
        (sao_paulo(2026, 11, 27, 19, 0), sao_paulo(2026, 11, 30, 8, 0), timedelta(hours=1)),
        (sao_paulo(*MONDAY, 21, 0), sao_paulo(2026, 11, 24, 7, 59), timedelta()),
        (sao_paulo(*MONDAY, 19, 0), sao_paulo(2026, 11, 24, 10, 0), timedelta(hours=3)),
    ],
    ids=["same-day", "friday-evening-to-monday-opening", "overnight", "evening-to-next-morning"],
)
def test_business_time_counts_only_weekdays_from_8_to_20(start, end, expected):
    assert business_time(start, end) == expected


def test_business_hours_are_sao_paulo_weekdays():
    assert is_open(sao_paulo(*MONDAY, 8, 0)) and not is_open(sao_paulo(*MONDAY, 20, 0))
    assert not is_open(sao_paulo(2026, 11, 28, 12, 0))  # Saturday


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


def test_silence_fires_after_six_business_hours_and_resolves_when_events_resume(settings, engine, redis_conn, hook):
    """Kobana's last event 09:00 Monday: quiet at 14:59, alert at 15:00, no verdict at night,
    resolved after its next event. Transfeera never sent: never alerted."""
    tick = Ticker(alert_settings(settings, webhook=hook.url), engine, redis_conn)
    store_event(engine, "kobana", sao_paulo(*MONDAY, 9, 0))

    assert tick(sao_paulo(*MONDAY, 14, 59)).check.fired == []
    assert tick(sao_paulo(*MONDAY, 15, 0)).check.fired == ["silence:kobana"]
    night = tick(sao_paulo(*MONDAY, 22, 0)).check
    assert night.repeated == [] and night.resolved == []
    assert tick(sao_paulo(2026, 11, 24, 8, 0)).check.repeated == ["silence:kobana"]  # an hour since, in hours
    store_event(engine, "kobana", sao_paulo(2026, 11, 24, 8, 30))
    assert tick(sao_paulo(2026, 11, 24, 8, 31)).check.resolved == ["silence:kobana"]

    assert hook.alert_texts[0] == (
        "[ALERTA] kobana sem eventos há 6 h 00 min em horário comercial\n"
        "Nenhum evento aceito de kobana há 6 h 00 min em horário comercial (seg-sex 08:00-20:00). "
        "Último evento aceito em 23/11/2026 09:00.\n"
        "Verifique no painel do provedor se os webhooks estão ativos e apontam para este serviço."
    )
    assert hook.alert_texts[-1] == (
        "[RESOLVIDO] kobana voltou a enviar eventos\n"
        "kobana voltou a enviar eventos (alerta aberto em 23/11/2026 15:00, durou 17 h 31 min)."
    )
    assert [a.key for a in alerts(engine)] == ["silence:kobana"]


def test_silence_over_a_weekend_is_not_an_alert(settings, engine, redis_conn):
    """Last event Friday 18:00; Monday 09:00 is three business hours later: nothing yet."""
    store_event(engine, "celcoin", sao_paulo(2026, 11, 27, 18, 0))
    assert Ticker(settings, engine, redis_conn)(sao_paulo(2026, 11, 30, 9, 0)).check.fired == []


def test_english_messages_with_locale_en(settings, engine, redis_conn, hook):
    """LOCALE=en: the same alert in English, dates as yyyy-mm-dd."""
    tick = Ticker(alert_settings(settings, webhook=hook.url, locale="en"), engine, redis_conn)
    store_event(engine, "kobana", sao_paulo(*MONDAY, 9, 0))
    tick(sao_paulo(*MONDAY, 15, 30))
    assert hook.alert_texts[0].startswith("[ALERT] no events from kobana for 6 h 30 min of business hours\n")
    assert "Last accepted event at 2026-11-23 09:00." in hook.alert_texts[0]
