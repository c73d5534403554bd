"""``flask alerts list`` and ``flask alerts test`` (docs/alerts.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

import db
from config import Settings
from ops.i18n import moment
from workers.alerts import channels
from workers.alerts.messages import render, subject
from workers.alerts.models import OPEN, Alert, Delivery

#: How many closed alerts ``list`` shows after the open ones.
RECENT = 20


@click.group("alerts", help="Alerts: what is open, what was sent, and a test of each channel.")
def alerts_cli() -> None:
    pass


@alerts_cli.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@with_appcontext
def list_command(fmt: str) -> None:
    """Open alerts, then the most recent closed ones, with each channel's delivery state."""
    settings: Settings = current_app.extensions["settings"]
    engine = db.engine_from(settings)
    try:
        with db.session_factory(engine)() as session:
            open_query = select(Alert).where(Alert.status == OPEN).order_by(Alert.opened_at, Alert.id)
            open_rows = list(session.scalars(open_query))
            recent = list(
                session.scalars(select(Alert).where(Alert.status != OPEN).order_by(Alert.id.desc()).limit(RECENT))
            )
            ids = [a.id for a in open_rows + recent]
            deliveries = list(session.scalars(select(Delivery).where(Delivery.alert_id.in_(ids))))
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(f"cannot read alerts ({type(exc).__name__}); run python -m db upgrade") from None
    finally:
        engine.dispose()
    rows = [_row(a, [d for d in deliveries if d.alert_id == a.id]) for a in open_rows + recent]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no alerts")
    for r in rows:
        kinds: dict[str, list[str]] = {}
        for d in r["deliveries"]:
            kinds.setdefault(d["kind"], []).append(f"{d['channel']} {d['state']}")
        sent = "; ".join(f"{kind}: {', '.join(states)}" for kind, states in kinds.items()) or "no channel configured"
        head = f"#{r['id']:<5} {r['status']:<9} {r['key']:<24} opened {r['opened_at']}"
        click.echo(f"{head}  sends {r['sends']}  [{sent}]")
        click.echo("       " + r["message"].split("\n")[0])


def _row(alert: Alert, deliveries: list[Delivery]) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        value = db.utc(moment)
        return value.isoformat() if value else None

    return {
        "id": alert.id,
        "key": alert.key,
        "condition": alert.condition,
        "subject": alert.subject,
        "status": alert.status,
        "opened_at": iso(alert.opened_at),
        "last_sent_at": iso(alert.last_sent_at),
        "resolved_at": iso(alert.resolved_at),
        "sends": alert.sends,
        "message": alert.message,
        "details": alert.details,
        "deliveries": [
            {
                "channel": d.channel,
                "kind": d.kind,
                "state": "sent" if d.sent_at else ("retrying" if d.last_error else "pending"),
                "attempts": d.attempts,
                "last_error": d.last_error,
            }
            for d in sorted(deliveries, key=lambda d: d.id)
        ],
    }


@alerts_cli.command("test")
@with_appcontext
def test_command() -> None:
    """Send a test message through every configured channel now; exit 1 if any failed."""
    settings: Settings = current_app.extensions["settings"]
    names = channels.configured(settings)
    if not names:
        click.echo("no channel configured: set ALERT_WEBHOOK_URL and/or SMTP_URL + ALERT_EMAIL_TO + ALERT_EMAIL_FROM")
        raise click.exceptions.Exit(1)
    locale = settings.locale
    body = render(locale, "test.body", moment=moment(datetime.now(UTC), locale))
    message = channels.Message(subject(locale, "test", render(locale, "test.title")), body)
    failed = False
    for name in names:
        try:
            channels.send(settings, name, message)
        except channels.ChannelError as exc:
            failed = True
            click.echo(f"{name}: error: {exc}")
        else:
            click.echo(f"{name}: ok")
    if failed:
        raise click.exceptions.Exit(1)
