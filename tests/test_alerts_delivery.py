"""The outbox: a channel that is down gets the alert once it is back; the other is not held up."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import pytest
import trustme

from tests.alert_helpers import Ticker, alert_settings, deliveries, sao_paulo, store_event
from tests.alert_receivers import SmtpReceiver, WebhookReceiver
from tests.servers import free_port

MONDAY_NOON = sao_paulo(2026, 11, 23, 12, 0)


def _quarantine(engine, *ids):
    return [store_event(engine, "kobana", MONDAY_NOON, status="quarantined", code=f"bank_billet.{n}") for n in ids]


def test_smtp_down_the_alert_is_delivered_after_it_comes_back(settings, engine, redis_conn):
    """SMTP refuses connections: the webhook gets the alert at once, e-mail waits in the outbox;
    SMTP comes back on the same port: the next round after the back-off delivers it, once."""
    smtp = SmtpReceiver(port=free_port())
    with WebhookReceiver() as hook:
        tick = Ticker(alert_settings(settings, webhook=hook.url, smtp=smtp.url), engine, redis_conn)
        _quarantine(engine, 1)
        first = tick(MONDAY_NOON)
        assert first.check.notices == ["failed_events"]
        assert (first.delivered.sent, first.delivered.failed) == (1, 1)
        pending = [d for d in deliveries(engine) if d.sent_at is None]
        assert [(d.channel, d.attempts) for d in pending] == [("email", 1)]
        assert "ConnectionRefusedError" in (pending[0].last_error or "")

        with smtp:
            assert tick(MONDAY_NOON + timedelta(seconds=10)).delivered.sent == 0  # still backing off
            assert tick(MONDAY_NOON + timedelta(seconds=61)).delivered.sent == 1
            assert tick(MONDAY_NOON + timedelta(seconds=122)).delivered.sent == 0
        assert smtp.alert_subjects == ["[AVISO] 1 evento(s) novo(s) com falha ou em quarentena"]
        assert len(hook.alert_texts) == 1


def test_a_failing_channel_keeps_its_messages_in_order(settings, engine, redis_conn):
    """Webhook answering 500 for two notices: both wait; once it answers 200 they arrive in order."""
    with WebhookReceiver() as hook:
        tick = Ticker(alert_settings(settings, webhook=hook.url), engine, redis_conn)
        hook.status = 500
        (first,) = _quarantine(engine, 1)
        tick(MONDAY_NOON)
        (second,) = _quarantine(engine, 2)
        tick(MONDAY_NOON + timedelta(minutes=1))
        assert hook.texts == []
        hook.status = 200
        tick(MONDAY_NOON + timedelta(minutes=3))
    assert [t.split("\n")[2] for t in hook.alert_texts] == [
        f"- #{first} kobana bank_billet.1: quarentena",
        f"- #{second} kobana bank_billet.2: quarentena",
    ]


def test_failed_and_quarantined_events_are_announced_once_grouped_with_ids_and_codes(settings, engine, redis_conn):
    """Two new ones in one notice; at the next check nothing new, nothing said."""
    with WebhookReceiver() as hook:
        tick = Ticker(alert_settings(settings, webhook=hook.url), engine, redis_conn)
        failed = store_event(engine, "celcoin", MONDAY_NOON, status="failed", code="pix-payment-in")
        quarantined = store_event(engine, "kobana", MONDAY_NOON, status="quarantined", code="bank_billet.paid")
        store_event(engine, "kobana", MONDAY_NOON, status="processed", code="pix.paid")
        tick(MONDAY_NOON)
        assert tick(MONDAY_NOON + timedelta(minutes=1)).check.notices == []
    assert hook.alert_texts == [
        "[AVISO] 2 evento(s) novo(s) com falha ou em quarentena\n"
        "Eventos novos com falha ou em quarentena desde a última verificação:\n"
        f"- #{failed} celcoin pix-payment-in: falhou\n"
        f"- #{quarantined} kobana bank_billet.paid: quarentena\n"
        "Veja com: flask events list --status failed (ou quarantined)."
    ]


def test_with_no_channel_alerts_are_still_recorded(settings, engine, redis_conn):
    from tests.alert_helpers import alerts

    _quarantine(engine, 1)
    Ticker(settings, engine, redis_conn)(MONDAY_NOON)
    assert [(a.key, a.status) for a in alerts(engine)] == [("failed_events", "notice")]
    assert deliveries(engine) == []


def test_backlog_fires_when_the_oldest_inbox_event_is_too_old(settings, engine, redis_conn):
    """An entry appended to the inbox 301 s before the check is a backlog; gone, it is resolved."""
    from workers import stream

    entry = redis_conn.xadd(stream.INBOX, {"e": "{}", "raw": b"{}"})
    appended = datetime.fromtimestamp(int(entry.split(b"-")[0]) / 1000, UTC)
    with WebhookReceiver() as hook:
        tick = Ticker(alert_settings(settings, webhook=hook.url), engine, redis_conn)
        assert tick(appended + timedelta(seconds=299)).check.fired == []
        assert tick(appended + timedelta(seconds=361)).check.fired == ["backlog"]
        redis_conn.xdel(stream.INBOX, entry)
        assert tick(appended + timedelta(seconds=422)).check.resolved == ["backlog"]
    assert hook.alert_texts[0].startswith(
        "[ALERTA] fila atrasada: evento mais antigo espera há 6 min\n"
        "O evento mais antigo na fila de entrada espera há 6 min (limite 5 min); 1 evento(s) na fila."
    )


def test_a_condition_that_breaks_does_not_stop_the_others(settings, engine, redis_conn, monkeypatch):
    """Redis down for the refusals check: the failed-events notice still goes out."""
    from ops import refusals

    def broken(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(refusals, "counts", broken)
    _quarantine(engine, 1)
    outcome = Ticker(settings, engine, redis_conn)(MONDAY_NOON).check
    assert outcome.errors == ["refusals"] and outcome.notices == ["failed_events"]


def test_a_condition_name_is_registered_once():
    from workers.alerts.conditions import condition

    with pytest.raises(ValueError, match="already registered"):
        condition("silence")(lambda ctx: [])


def test_the_worker_thread_checks_and_delivers_on_its_own(settings, engine, redis_conn):
    """``python -m workers`` starts this loop: it checks at once and sends, beside the job loop."""
    from tests.servers import wait_until
    from workers.alerts import runner

    _quarantine(engine, 1)
    with WebhookReceiver() as hook:
        # The loop reads the wall clock and the event is a week old: in business hours the
        # silence alert ("no events from kobana") fires first. Only the notice is this test's.
        quiet = alert_settings(settings, webhook=hook.url, alert_silence_minutes=10**6)
        loop = runner.start(quiet, lambda: redis_conn)
        try:
            wait_until(lambda: hook.alert_texts, timeout=10, what="the alert thread's first message")
        finally:
            loop.stop()
            loop.join(10)
    assert hook.alert_texts[0].startswith("[AVISO] 1 evento(s) novo(s)")
    assert not loop.is_alive()


def test_smtp_without_starttls_never_gets_the_password(settings):
    """``smtp://user:pass@`` to a server that offers no STARTTLS: refused before AUTH, said clearly."""
    from workers.alerts import channels

    with SmtpReceiver() as smtp:
        wired = alert_settings(settings, smtp=f"smtp://alerts:p4ss@127.0.0.1:{smtp.port}")
        with pytest.raises(channels.ChannelError, match="no STARTTLS; refusing to send the password"):
            channels.send(wired, "email", channels.Message("s", "b"))
    assert smtp.messages == []


@pytest.fixture
def submission_server():
    """An SMTP server as port 587 usually is: STARTTLS required, then AUTH; its certificate issued
    for 127.0.0.1 by a CA of this test's own (trustme)."""
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    with SmtpReceiver(tls=tls, login=("alerts", "p4ss")) as smtp:
        yield ca, smtp


def test_smtp_with_starttls_checks_the_certificate_logs_in_and_delivers(
    settings, submission_server, tmp_path, monkeypatch
):
    """``smtp://user:pass@``: the channel upgrades with STARTTLS, verifies the server against the
    trusted CAs, and only then logs in and sends."""
    from workers.alerts import channels

    ca, smtp = submission_server
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # what OpenSSL trusts, as an operator would set it
    wired = alert_settings(settings, smtp=f"smtp://alerts:p4ss@127.0.0.1:{smtp.port}")
    channels.send(wired, "email", channels.Message("Alerta", "corpo"))
    assert smtp.logins == [("alerts", True)]
    assert smtp.subjects == ["Alerta"]
    assert smtp.over_tls == [True]


def test_smtp_with_a_certificate_nobody_trusts_never_gets_the_password(settings, submission_server, monkeypatch):
    """The same server with a certificate outside the trusted CAs: refused at the handshake, before
    AUTH, and the error names the failure without the password."""
    from workers.alerts import channels

    _ca, smtp = submission_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    wired = alert_settings(settings, smtp=f"smtp://alerts:p4ss@127.0.0.1:{smtp.port}")
    with pytest.raises(channels.ChannelError, match="SSLCertVerificationError") as refused:
        channels.send(wired, "email", channels.Message("Alerta", "corpo"))
    assert "p4ss" not in str(refused.value)
    assert smtp.logins == []
    assert smtp.messages == []


def test_two_workers_delivering_at_once_send_each_message_once(settings, engine, redis_conn, database_url):
    """Both workers' threads reach the outbox together: each queued message arrives exactly once."""
    import threading

    import db
    from config import Settings
    from workers.alerts import outbox

    with WebhookReceiver() as hook:
        wired = alert_settings(settings, webhook=hook.url)
        hook.status = 500
        for n in range(3):
            _quarantine(engine, n)
            Ticker(wired, engine, redis_conn)(MONDAY_NOON + timedelta(minutes=n))
        hook.status = 200
        engines = [db.engine_from(Settings(database_url=database_url)) for _ in range(2)]
        start = threading.Barrier(2)

        def deliver(eng):
            start.wait()
            outbox.deliver_due(db.session_factory(eng), wired, MONDAY_NOON + timedelta(hours=1))

        threads = [threading.Thread(target=deliver, args=(eng,)) for eng in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        for eng in engines:
            eng.dispose()
    assert len(hook.alert_texts) == 3
    assert len(set(hook.alert_texts)) == 3


def _record_sync(engine, provider: str, ok: bool, at, error: str | None = None) -> None:
    """A sync run's result as ``workers.sync`` writes it (``db.sync_state``)."""
    from sqlalchemy.orm import Session

    from db import sync_state

    at = at.astimezone(UTC)  # as workers.sync stores it (SQLite keeps no offset)
    with Session(engine) as session, session.begin():
        state = sync_state.row(session, provider)
        state.last_run_at, state.last_ok, state.last_complete, state.last_error = at, ok, ok, error
        if ok:
            state.last_ok_at = at


def test_sync_failing_fires_from_the_last_sync_result_and_resolves(settings, engine, redis_conn):
    """A failed last sync run is an alert, dated from the last good run; a good run resolves it."""
    _record_sync(engine, "celcoin", True, MONDAY_NOON - timedelta(hours=1))
    _record_sync(engine, "celcoin", False, MONDAY_NOON, "HTTP 503")
    with WebhookReceiver() as hook:
        tick = Ticker(alert_settings(settings, webhook=hook.url), engine, redis_conn)
        assert tick(MONDAY_NOON).check.fired == ["sync_failing:celcoin"]
        _record_sync(engine, "celcoin", True, MONDAY_NOON + timedelta(seconds=30))
        assert tick(MONDAY_NOON + timedelta(minutes=1)).check.resolved == ["sync_failing:celcoin"]
    assert hook.alert_texts[0] == (
        "[ALERTA] sincronização com celcoin falhando\n"
        "A sincronização com celcoin falha desde 23/11/2026 11:00: HTTP 503"
    )
