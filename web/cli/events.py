"""``flask events list|show|replay``: the operator's view of the event log. JSON: docs/cli.md.

Handlers are imported only by ``replay`` (the web process never loads them).
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import db
from db import utc
from db.models import FAILED, QUARANTINED, STATUSES, EventRecord
from ops.logconfig import mask_text, mask_value
from providers import PROVIDERS

events_cli = AppGroup("events", help="Inspect and replay the event log.")
#: ``--provider`` accepts these (any case); an unknown name is refused naming it (exit 2), never "(no events)".
PROVIDER_NAMES = tuple(sorted(PROVIDERS))

_SUMMARY_FIELDS = (
    "id",
    "provider",
    "event_code",
    "original_code",
    "idempotency_key",
    "status",
    "attempts",
    "occurred_at",
    "received_at",
    "processed_at",
    "last_error",
    "source",
)
_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@contextmanager
def _sessions() -> Iterator[sessionmaker[Session]]:
    """Sessions on an engine that lives as long as the command (a CLI run is one short process)."""
    settings = current_app.extensions["settings"]
    engine = db.engine_from(settings)
    try:
        yield db.session_factory(engine, settings)
    finally:
        engine.dispose()


def _iso(value: datetime | None) -> str | None:
    value = utc(value)
    return value.isoformat().replace("+00:00", "Z") if value else None


def summary(row: EventRecord) -> dict[str, Any]:
    """One event as ``events list --format json`` prints it (stable, documented in docs/cli.md)."""
    out: dict[str, Any] = {name: getattr(row, name) for name in _SUMMARY_FIELDS}
    for name in ("occurred_at", "received_at", "processed_at"):
        out[name] = _iso(out[name])
    return out


def payload_of(row: EventRecord) -> Any:
    """The validated payload, derived from the stored raw body by the provider's own code (a row
    that holds a stored copy gives it); None if the body does not validate."""
    if row.payload is not None:
        return row.payload
    from marshmallow import ValidationError

    from db import dumps
    from providers.errors import Invalid
    from workers.replay import revalidate

    try:
        return json.loads(dumps(revalidate(row).payload))  # Decimal as exact strings, as stored JSON was
    except (Invalid, ValidationError):  # quarantined or no longer valid: the raw text says what arrived
        return None


def detail(row: EventRecord, reveal: bool = False) -> dict[str, Any]:
    """Everything about one event, as ``events show`` prints it.

    Bodies carry CPFs, CNPJs and names: unless ``reveal``, the text and payload are masked like logs
    and ``raw_base64`` (which would decode to the full body) is left out.
    """
    try:
        raw_text: str | None = row.raw.decode("utf-8")
    except UnicodeDecodeError:
        raw_text = None
    if not reveal:
        return {
            **detail(row, reveal=True),
            "payload": mask_value(payload_of(row)),
            "raw_text": mask_text(raw_text) if raw_text is not None else None,
            "raw_base64": None,
        }
    return {
        **summary(row),
        "stored_at": _iso(row.stored_at),
        "content_type": row.content_type,
        "entity": row.entity,
        "delivery": row.delivery or {},
        "request_id": row.request_id,
        "trust": row.trust,
        "handlers": row.handlers or [],
        "validation_errors": row.validation_errors,
        "payload": payload_of(row),
        "raw_text": raw_text,
        "raw_base64": base64.b64encode(row.raw).decode("ascii"),
    }


def parse_since(value: str) -> datetime:
    """``--since``: an ISO 8601 instant (UTC if no offset) or a relative age like 30m, 2h, 7d."""
    match = _RELATIVE.fullmatch(value.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected ISO 8601 or an age like 30m, 2h, 7d") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _dump(value: Any) -> None:
    click.echo(json.dumps(json.loads(db.dumps(value)), indent=2, ensure_ascii=False))


@events_cli.command("list")
@click.option("--provider", type=click.Choice(PROVIDER_NAMES, case_sensitive=False), help="Only this provider.")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--code", help="event code, canonical or original; 'prefix.*' matches a family")
@click.option("--since", help="received at or after: ISO 8601 or an age (30m, 2h, 7d)")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_events(
    provider: str | None, status: str | None, code: str | None, since: str | None, limit: int, fmt: str
) -> None:
    """List events, newest first."""
    query = select(EventRecord).order_by(EventRecord.id.desc()).limit(limit)
    if provider:
        query = query.where(EventRecord.provider == provider)
    if status:
        query = query.where(EventRecord.status == status)
    if code and code != "*":
        from web.console.event_filters import code_clause

        query = query.where(code_clause(code))
    if since:
        query = query.where(EventRecord.received_at >= parse_since(since))
    with _sessions() as sessions, sessions() as session:
        rows = [summary(row) for row in session.scalars(query)]
        if status == FAILED:  # dead letters the event log could not record: RQ's and the inbox's
            logged = {(p, k) for p, k in session.execute(select(EventRecord.provider, EventRecord.idempotency_key)
                                                         .where(EventRecord.status == FAILED))}  # fmt: skip
            rows += [letter.summary() for letter in _outside_letters(logged, provider)][: max(0, limit - len(rows))]
    if fmt == "json":
        _dump(rows)
        return
    _table(rows)


def _outside_letters(logged: set[tuple[str, str]], provider: str | None) -> list[Any]:
    """``workers.dead_letters`` outside the event log; Redis unreachable is said, not fatal: the
    event log's own failed rows are still worth listing."""
    import redis

    from workers import dead_letters
    from workers.queue import connect

    try:
        letters = dead_letters.outside_event_log(connect(current_app.extensions["settings"]), logged)
    except redis.RedisError as exc:
        click.echo(f"warning: dead letters kept in Redis not listed: REDIS_URL unreachable ({type(exc).__name__})",
                   err=True)  # fmt: skip
        return []
    return [d for d in letters if provider is None or (d.envelope is not None and d.envelope.provider == provider)]


def _table(rows: list[dict[str, Any]]) -> None:
    columns = ("id", "status", "provider", "event_code", "source", "attempts", "received_at", "idempotency_key")
    cells = [[str(r[c] if r[c] is not None else "") for c in columns] for r in rows]
    cells = [[value if len(value) <= 40 else value[:39] + "…" for value in line] for line in cells]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    if not rows:
        click.echo("(no events)")


@events_cli.command("show")
@click.argument("event_id", type=int)
@click.option("--reveal", is_flag=True, help="show CPF/CNPJ unmasked and the raw body as base64 (to repair it)")
def show_event(event_id: int, reveal: bool) -> None:
    """Show one event in full (JSON): raw body, payload, attempts, errors, handlers that ran."""
    with _sessions() as sessions, sessions() as session:
        row = session.get(EventRecord, event_id)
        if row is None:
            raise click.ClickException(f"no event {event_id}")
        _dump(detail(row, reveal=reveal))


@events_cli.command("replay")
@click.argument("event_ids", nargs=-1, type=int)
@click.option("--status", type=click.Choice([FAILED, QUARANTINED]), help="replay every event with this status")
@click.option("--provider", type=click.Choice(PROVIDER_NAMES, case_sensitive=False),
              help="with --status: only this provider")  # fmt: skip
@click.option("--force", is_flag=True, help="also re-run handlers of processed/ignored events")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def replay_events(event_ids: tuple[int, ...], status: str | None, provider: str | None, force: bool, fmt: str) -> None:
    """Re-validate events from their raw bytes and dispatch them again. Exit 1 if any did not succeed."""
    from workers import replay  # imports handlers: only the operator's replay needs them

    if bool(event_ids) == bool(status):
        raise click.UsageError("give event IDs or --status, not both and not neither")
    if provider and not status:
        raise click.UsageError("--provider only filters --status")
    ids = list(event_ids)
    with _sessions() as sessions:
        if status:
            query = select(EventRecord.id).where(EventRecord.status == status).order_by(EventRecord.id)
            if provider:
                query = query.where(EventRecord.provider == provider)
            with sessions() as session:
                ids = list(session.scalars(query))
        results = [replay.replay(sessions, event_id, force=force) for event_id in ids]
        outside = _replay_outside(sessions, provider) if status == FAILED else []
    _forget_dead_letters([r.job_id for r in results if r.job_id and r.result in ("processed", "ignored", "duplicate")])
    if fmt == "json":
        _dump([r.to_dict() for r in results] + outside)
    else:
        for r in results:
            extra = f" ({', '.join(r.handlers)})" if r.handlers else (f": {r.detail}" if r.detail else "")
            click.echo(f"event {r.log_id}: {r.result}{extra}")
        for item in outside:
            click.echo(f"dead letter {item['id']}: {item['result']} (the worker stores and dispatches it)")
        if not results and not outside:
            click.echo("(nothing to replay)")
    if any(r.result not in ("processed", "ignored", "duplicate") for r in results) or any(
        item["result"] != "requeued" for item in outside
    ):
        sys.exit(1)


def _replay_outside(sessions: sessionmaker[Session], provider: str | None) -> list[dict[str, Any]]:
    """Dead letters outside the event log go back to the inbox stream (``workers.dead_letters``)."""
    from workers import dead_letters
    from workers.queue import connect

    with sessions() as session:
        logged = {(p, k) for p, k in session.execute(select(EventRecord.provider, EventRecord.idempotency_key)
                                                     .where(EventRecord.status == FAILED))}  # fmt: skip
    connection = connect(current_app.extensions["settings"])
    return [{"id": letter.id, "result": dead_letters.replay(connection, letter)}
            for letter in _outside_letters(logged, provider)]  # fmt: skip


def _forget_dead_letters(job_ids: list[str]) -> None:
    """A replayed event's job leaves RQ's failed registry, so the dead letter shows only what
    still needs attention. Best effort: Redis being down must not fail a successful replay."""
    if not job_ids:
        return
    import redis
    from rq.registry import FailedJobRegistry

    from workers.queue import connect, queues

    try:
        connection = connect(current_app.extensions["settings"])
        for queue in queues(connection):
            registry = FailedJobRegistry(queue=queue)
            for job_id in job_ids:
                if job_id in registry:
                    registry.remove(job_id, delete_job=True)
    except redis.RedisError as exc:
        click.echo(f"warning: could not clean RQ's failed registry ({type(exc).__name__})", err=True)
