"""``flask alerts list|test`` and the alert settings: what an operator types and reads."""

from __future__ import annotations

import json
from datetime import time

import pytest

from app import create_app
from config import ConfigError, Settings
from tests.alert_helpers import Ticker, alert_settings, sao_paulo, store_event
from tests.alert_receivers import SmtpReceiver, WebhookReceiver
from tests.servers import free_port


def _invoke(settings, *args):
    return create_app(settings).test_cli_runner().invoke(args=["alerts", *args])


def test_test_command_reports_each_channel_and_succeeds_when_all_took_it(settings):
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        result = _invoke(alert_settings(settings, webhook=hook.url, smtp=smtp.url), "test")
    assert result.exit_code == 0, result.output
    assert result.output == "webhook: ok\nemail: ok\n"
    assert hook.texts[0].startswith("[TESTE] mensagem de teste\nMensagem de teste dos alertas de webhooks")
    assert smtp.subjects == ["[TESTE] mensagem de teste"]


def test_test_command_exits_1_naming_the_failed_channel_without_its_url(settings):
    """Webhook answering 500 and SMTP refusing: both errors shown, the token-bearing URL is not."""
    with WebhookReceiver() as hook:
        hook.status = 500
        wired = alert_settings(
            settings, webhook=hook.url + "/T000/SECRET-TOKEN", smtp=f"smtp://127.0.0.1:{free_port()}"
        )
        result = _invoke(wired, "test")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "webhook: error: webhook answered HTTP 500"
    assert lines[1].startswith("email: error: SMTP ConnectionRefusedError")
    assert "SECRET-TOKEN" not in result.output


def test_test_command_without_channels_says_what_to_set(settings):
    result = _invoke(settings, "test")
    assert result.exit_code == 1
    assert "ALERT_WEBHOOK_URL" in result.output


def test_list_json_shows_open_then_recent_alerts_with_their_deliveries(settings, engine, redis_conn):
    with WebhookReceiver() as hook:
        wired = alert_settings(settings, webhook=hook.url, digest_at=time(23, 59))
        store_event(engine, "kobana", sao_paulo(2026, 11, 23, 9, 0))
        store_event(engine, "celcoin", sao_paulo(2026, 11, 23, 9, 0), status="failed", code="pix-payment-in")
        Ticker(wired, engine, redis_conn)(sao_paulo(2026, 11, 23, 15, 0))
        result = _invoke(wired, "list", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["key"], r["status"]) for r in rows] == [("silence:kobana", "open"), ("silence:celcoin", "open"),
                                                        ("failed_events", "notice")]  # fmt: skip
    assert rows[0]["opened_at"] == "2026-11-23T18:00:00+00:00"
    assert rows[0]["deliveries"] == [
        {"channel": "webhook", "kind": "fired", "state": "sent", "attempts": 1, "last_error": None}
    ]
    table = _invoke(wired, "list").output
    assert "silence:kobana" in table and "[fired: webhook sent]" in table


def test_list_without_alerts(settings):
    assert _invoke(settings, "list").output == "no alerts\n"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ALERT_AUTH_FAILURES": "many"}, "ALERT_AUTH_FAILURES"),
        ({"ALERT_SILENCE_MINUTES": "0"}, "ALERT_SILENCE_MINUTES"),
        ({"ALERT_WEBHOOK_URL": "hooks.slack.com/x"}, "ALERT_WEBHOOK_URL"),
        ({"SMTP_URL": "mail.example.com:587"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://u:p@mail.example.com:587", "ALERT_EMAIL_FROM": "a@example.com"}, "ALERT_EMAIL_TO"),
        ({"SMTP_URL": "smtp://mail.example.com", "ALERT_EMAIL_TO": "ops@example.com"}, "ALERT_EMAIL_FROM"),
        ({"ALERT_EMAIL_TO": "ops@example.com"}, "ALERT_EMAIL_TO: set SMTP_URL"),
        (
            {"SMTP_URL": "smtp://m.example.com", "ALERT_EMAIL_TO": "ops", "ALERT_EMAIL_FROM": "a@x.com"},
            "ALERT_EMAIL_TO",
        ),
        ({"DIGEST_AT": "7am"}, "DIGEST_AT"),
        ({"LOCALE": "fr"}, "LOCALE"),
        ({"CONSOLE_URL": "ops.example.com"}, "CONSOLE_URL"),
    ],
)
def test_bad_alert_settings_stop_start_up_naming_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_alert_settings_from_the_environment():
    settings = Settings.from_env(
        {
            "SMTP_URL": "smtps://alerts:p%40ss@mail.example.com",
            "ALERT_EMAIL_TO": "ops@example.com, fin@example.com",
            "ALERT_EMAIL_FROM": "alerts@example.com",
            "DIGEST_AT": "06:30",
            "LOCALE": "en",
        }
    )
    assert settings.alert_email_to == ("ops@example.com", "fin@example.com")
    assert (settings.digest_at, settings.locale, settings.alert_auth_failures) == (time(6, 30), "en", 10)
    assert "p%40ss" not in repr(settings)
