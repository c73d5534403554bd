"""The daily digest: yesterday's totals and discrepancies, once a day, with the CLI's own CSV."""

from __future__ import annotations

import threading
from datetime import time, timedelta

import pytest
import sqlalchemy as sa

import db
from config import Settings
from tests.alert_helpers import Ticker, alert_settings, sao_paulo
from tests.alert_receivers import WebhookReceiver, attachment, text_of
from tests.helpers import Deliver, sample
from workers.alerts.models import Digest

DAY = "2026-06-16"  # the Kobana sample boleto was paid that day
DIGEST_TIME = sao_paulo(2026, 6, 17, 7, 0)


@pytest.fixture
def ledger_days(client, work):
    """A boleto paid on 16/06/2026, and Celcoin Pix in and out on 27/07/2023 (an earlier day)."""
    deliver = Deliver(client)
    assert deliver.kobana(sample("kobana", "bank_billet.paid.json")).status_code == 200
    assert deliver.celcoin(sample("celcoin", "pix-payment-in.json")).status_code == 200
    assert deliver.celcoin(sample("celcoin", "pix-payment-out.json")).status_code == 200
    work()


def _cli_csv(app, day: str, as_of: str) -> bytes:
    args = ["reconcile", "report", "--from", day, "--to", day, "--format", "csv", "--as-of", as_of]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_two_workers_send_the_digest_once_with_the_cli_csv_attached(
    settings, app, ledger_days, receivers, database_url, redis_conn
):
    """Two workers tick at 07:00 at once (each its own engine, as two processes): one digest row,
    one message per channel; the attachment is byte for byte ``flask reconcile report --format csv``."""
    hook, smtp = receivers
    wired = alert_settings(
        settings, webhook=hook.url, smtp=smtp.url, console_url="https://ops.example.com", digest_at=time(7, 0)
    )
    engines = [db.engine_from(Settings(database_url=database_url)) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes = []

    def worker(engine: sa.Engine) -> None:
        tick = Ticker(wired, engine, redis_conn)
        start.wait()
        outcomes.append(tick(DIGEST_TIME).check.digest_day)

    threads = [threading.Thread(target=worker, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    Ticker(wired, engines[0], redis_conn)(DIGEST_TIME + timedelta(hours=2))  # a restart later that morning
    for engine in engines:
        engine.dispose()

    assert sorted(outcomes, key=str) == [DAY, None]
    digests = [t for t in hook.texts if t.startswith("[Resumo diário]")]
    mails = [m for m in smtp.messages if str(m["Subject"]).startswith("[Resumo diário]")]
    assert len(digests) == 1 and len(mails) == 1
    name, data = attachment(mails[0])
    assert name == f"reconciliation-{DAY}.csv"
    assert data == _cli_csv(app, DAY, DIGEST_TIME.isoformat())
    body = text_of(mails[0])
    assert str(mails[0]["Subject"]) == "[Resumo diário] webhooks de 16/06/2026"
    assert "- kobana boleto: 1, esperado R$\xa0349,90, liquidado R$\xa0349,90" in body
    assert f"Console: https://ops.example.com/console/reconciliation?from={DAY}&to={DAY}" in body
    assert digests[0] == f"[Resumo diário] webhooks de 16/06/2026\n{body.rstrip()}"


def test_the_digest_is_due_once_digest_at_has_passed_and_covers_the_day_before(settings, engine, redis_conn):
    """06:59 nothing; 07:00 yesterday's digest; later ticks that day nothing; next day, the next one."""
    tick = Ticker(settings, engine, redis_conn)
    assert tick(sao_paulo(2026, 6, 17, 6, 59)).check.digest_day is None
    assert tick(DIGEST_TIME).check.digest_day == DAY
    assert tick(DIGEST_TIME + timedelta(hours=5)).check.digest_day is None
    assert tick(DIGEST_TIME + timedelta(days=1)).check.digest_day == "2026-06-17"
    with db.session_factory(engine)() as session:
        assert [d.isoformat() for d in session.scalars(sa.select(Digest.day).order_by(Digest.day))] == [
            DAY,
            "2026-06-17",
        ]


def test_digest_counts_new_and_still_open_discrepancies_by_type(settings, ledger_days, engine, redis_conn):
    """The boleto paid without its creation seen is a new ``unknown_charge`` on its day."""
    hook_settings = settings
    with WebhookReceiver() as hook:
        Ticker(alert_settings(hook_settings, webhook=hook.url, digest_at=time(7, 0)), engine, redis_conn)(DIGEST_TIME)
    digest = next(t for t in hook.texts if t.startswith("[Resumo diário]"))
    assert "Divergências novas em 16/06/2026: 1. Ainda abertas de dias anteriores: 0." in digest
    assert "- unknown_charge: 1 nova(s), 0 ainda aberta(s)" in digest
