"""``flask reconcile ...`` and ``flask ledger ...``: the finance team's commands (docs/reconciliation.md)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

import db
from config import Settings, dev_credentials
from ledger import discrepancies, render, show, store
from ledger.money import from_cents
from ledger.vocab import KINDS

PROVIDER_NAMES = ("kobana", "celcoin", "transfeera")


@contextmanager
def _session() -> Iterator[Session]:
    """A session for one command; a database that is missing or unmigrated is reported in one
    line by the CLI group (app.py), like every entry point's (ops/preflight.py)."""
    settings: Settings = current_app.extensions["settings"]
    engine = db.engine_from(settings)
    try:
        with db.session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2026-10-31, got {value!r}") from None


@click.group("reconcile", help="Reconciliation reports over the ledger.")
def reconcile() -> None:
    pass


@reconcile.command("report")
@click.option("--from", "date_from", required=True, help="First Brasília day, YYYY-MM-DD (inclusive).")
@click.option("--to", "date_to", required=True, help="Last Brasília day, YYYY-MM-DD (inclusive).")
@click.option("--provider", type=click.Choice(PROVIDER_NAMES), help="Only this provider.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--csv-style", type=click.Choice(sorted(render.CSV_STYLES)), default="br", show_default=True,
              help="br: ';' separator and ',' decimals (pt-BR spreadsheets); intl: ',' and '.'.")  # fmt: skip
@click.option("--as-of", help="Judge pending payouts as of this ISO time (default: now).")
@with_appcontext
def report_command(date_from: str, date_to: str, provider: str | None, fmt: str, csv_style: str,
                   as_of: str | None) -> None:  # fmt: skip
    """Per provider and kind: count, expected, settled; net movement; then every open discrepancy."""
    start, end = _day(date_from), _day(date_to)
    if end < start:
        raise click.BadParameter("--to is before --from")
    try:
        moment = datetime.fromisoformat(as_of) if as_of else datetime.now(UTC)
    except ValueError:
        raise click.BadParameter(f"expected an ISO time like 2026-11-01T00:00:00-03:00, got {as_of!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    settings: Settings = current_app.extensions["settings"]
    with _session() as session:
        report = discrepancies.report(session, start, end, provider=provider, as_of=moment,
                                      pending_after=timedelta(hours=settings.ledger_pending_after_hours))  # fmt: skip
        session.commit()
    if fmt == "json":
        click.echo(render.to_json(report))
    elif fmt == "csv":
        sys.stdout.write(render.to_csv(report, csv_style))
    else:
        click.echo(render.to_table(report, moment), nl=False)


def _actor() -> str:
    """Who a CLI action is recorded as: the operating-system user on the dyno or laptop."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _refresh(session: Session) -> None:
    settings: Settings = current_app.extensions["settings"]
    discrepancies.refresh(session, store.states(session),
                          pending_after=timedelta(hours=settings.ledger_pending_after_hours))  # fmt: skip


@reconcile.command("discrepancies")
@click.option("--status", type=click.Choice(discrepancies.STATUSES), default="open", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@with_appcontext
def discrepancies_command(status: str, fmt: str) -> None:
    """The discrepancy inbox (the console's /console/discrepancies), after bringing it up to date."""
    with _session() as session:
        _refresh(session)
        session.commit()
        rows = [discrepancies.to_dict(row) for row in discrepancies.listing(session, status=status)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r['id']:>6}  {r['status']:<12} {r['type']:<18} {r['object_id']:<40} "
                   f"{render.brl(Decimal(r['expected'])):>14} {render.brl(Decimal(r['settled'])):>14} "
                   f"{render.brl(Decimal(r['difference'])):>14}  {r['reason'] or ''}")  # fmt: skip
    if not rows:
        click.echo(f"(no {status} discrepancies)")


def _act(action: str, discrepancy_id: int, **kwargs: str) -> None:
    from web.console.models import audit

    fn = getattr(discrepancies, action)
    with _session() as session:
        try:
            row = fn(session, discrepancy_id, _actor(), **kwargs)
        except discrepancies.WorkflowError as exc:
            raise click.ClickException(str(exc)) from None
        audit(session, _actor(), f"discrepancy_{action}", f"discrepancy {discrepancy_id} ({row.object_id} {row.type})",
              detail=" ".join(f"{k}={v}" for k, v in kwargs.items() if v))  # fmt: skip
        session.commit()
        click.echo(json.dumps(discrepancies.to_dict(row), ensure_ascii=False))


@reconcile.command("acknowledge")
@click.argument("discrepancy_id", type=int)
@with_appcontext
def acknowledge_command(discrepancy_id: int) -> None:
    """Mark an open discrepancy as being worked on."""
    _act("acknowledge", discrepancy_id)


@reconcile.command("resolve")
@click.argument("discrepancy_id", type=int)
@click.option("--reason", required=True, type=click.Choice(discrepancies.REASONS))
@click.option("--note", default="", help="What was done, for whoever reads the history.")
@with_appcontext
def resolve_command(discrepancy_id: int, reason: str, note: str) -> None:
    """Close a discrepancy: it leaves the open list and the report, and stays in the history."""
    _act("resolve", discrepancy_id, reason=reason, note=note)


@reconcile.command("reopen")
@click.argument("discrepancy_id", type=int)
@with_appcontext
def reopen_command(discrepancy_id: int) -> None:
    """Put a resolved discrepancy back in the open list."""
    _act("reopen", discrepancy_id)


@reconcile.command("demo")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The running service.")
@click.option("--month", help="YYYY-MM to generate (default: last month).")
@click.option("--seed", default=2026, show_default=True, help="Same seed, same traffic.")
@click.option("--duplicates", default=0.10, show_default=True, help="Share of notifications sent twice.")
def demo_command(url: str, month: str | None, seed: int, duplicates: float) -> None:
    """Send a generated month of signed Kobana, Transfeera and Celcoin traffic to the service."""
    from ledger import demo
    from ledger.traffic import generate

    settings = Settings.from_env({**os.environ, **dev_credentials(os.environ)})
    if month:
        try:
            year, number = (int(p) for p in month.split("-"))
            date(year, number, 1)
        except ValueError:
            raise click.BadParameter(f"expected a month like 2026-10, got {month!r}") from None
    else:
        last = date.today().replace(day=1) - timedelta(days=1)
        year, number = last.year, last.month
    generated = generate(year, number, seed)
    traffic = generated.traffic(seed=seed, duplicates=duplicates)
    click.echo(f"sending {len(traffic)} notifications ({len(generated.objects)} money objects, "
               f"{year}-{number:02d}) to {url} ...")  # fmt: skip
    outcomes = demo.send(traffic, url, settings)
    for outcome, count in sorted(outcomes.items()):
        click.echo(f"  {count:5d}  {outcome}")
    last_day = generated.end.date() - timedelta(days=1)
    click.echo(f"then: .venv/bin/flask --app wsgi reconcile report --from {generated.start.date()} --to {last_day}")


@click.group("ledger", help="Look at money objects in the ledger.")
def ledger() -> None:
    pass


@ledger.command("show", short_help="State and event history of one money object.")
@click.argument("object_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@with_appcontext
def show_command(object_id: str, fmt: str) -> None:
    """State and event history of one money object, OBJECT_ID as `ledger list` shows it
    (kobana:84512377, transfeera:60040, celcoin:7d89772a-...)."""
    with _session() as session:
        rows = store.find(session, object_id)
        if not rows:
            raise click.ClickException(f"no object {object_id!r} in the ledger (see: ledger list)")
        found: list[dict[str, Any]] = [{"state": row.state, "events": [
            {"event_id": f.event_id, "at": f.fact["at"], "code": f.code, "status": f.fact.get("status"),
             "amount": f.fact.get("amount"), "payments": f.fact.get("payments") or []}
            for f in sorted(row.facts, key=lambda f: (f.at, f.event_id))]}
            for row in rows]  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps(found if len(found) > 1 else found[0], indent=2, ensure_ascii=False))
        return
    click.echo("\n".join(show.text(item["state"], item["events"]) for item in found), nl=False)


@ledger.command("list", short_help="Every money object with its status, expected and settled.")
@click.option("--status", help="Only objects in this provider status, any case (paid, FINALIZADO, pending...).")
@click.option("--provider", type=click.Choice(PROVIDER_NAMES, case_sensitive=False))
@click.option("--kind", type=click.Choice(KINDS, case_sensitive=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@with_appcontext
def list_command(status: str | None, provider: str | None, kind: str | None, fmt: str) -> None:
    """Every money object with its status, expected and settled amounts, oldest first."""
    from sqlalchemy import func, select

    from ledger.models import LedgerObject

    query = select(LedgerObject).order_by(LedgerObject.opened_at, LedgerObject.object_id)
    if status:
        query = query.where(func.lower(LedgerObject.status) == status.strip().lower())
    for column, value in ((LedgerObject.provider, provider), (LedgerObject.kind, kind)):
        if value:
            query = query.where(column == value.lower())
    with _session() as session:
        rows = [{"object_id": r.object_id, "provider": r.provider, "kind": r.kind, "status": r.status,
                 "expected": str(from_cents(r.expected_cents)), "settled": str(from_cents(r.settled_cents)),
                 "opened_at": r.state.get("opened_at")}
                for r in session.scalars(query)]  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(show.listing(rows), nl=False)
