"""Provider sync: bring in what a provider gave up delivering, through the door's own path.

Every event found through a provider's API goes through ``providers.receive`` (parse, describe,
validate: the same code as the door, so the same idempotency key) and onto the inbox stream with
``workers.queue.enqueue_event``; the worker stores it once. A later door delivery of the same
event is a ``duplicate``. Such an event is marked ``source=resync`` and ``trust=api-tls-credentials``:
we trust it because we fetched it over TLS with our credentials, not because of a signature.

Per provider (docs/provider-sync.md):
- **Kobana**: walk ``GET /v1/webhook_deliveries?status=2`` newest first and ingest each
  ``request_payload`` under its delivery ``uid`` (= ``X-Kobana-Delivery-Id``). Never ask Kobana to
  resend (its docs discourage it). 60 GET/hour: stop politely before the budget runs out or on a
  long 429, keep the page in ``provider_sync.cursor`` and resume there next run;
- **Transfeera**: ingest each undelivered event of the window under its envelope ``id``;
- **Celcoin**: per subscribed entity, count the window's pending webhooks and ask the replay API
  to resend them (they arrive at the door); windows older than 7 days are beyond Celcoin's limit.

The worker runs ``run_automatic`` every ``PROVIDER_SYNC_INTERVAL`` seconds in a background
thread (``maybe_start``, from its maintenance hook), so event processing never waits on an API;
a Redis key elects one worker per interval and a Redis lock per provider keeps runs exclusive.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import structlog
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import db
import providers
from config import Settings
from db.models import EventRecord
from db.sync_state import ProviderSync, last_results, row
from ledger.traffic.bodies import dumps as exact_json
from providers.api import open_api
from providers.api.celcoin import REPLAY_LIMIT
from providers.api.http import ApiError, RateLimited
from providers.api.kobana import PER_PAGE as KOBANA_PER_PAGE
from providers.errors import QueueUnavailable
from schemas.envelope import RESYNC, TRUST_API
from workers.inbox import bounded_key
from workers.queue import connect, enqueue_event, events_queue

log = structlog.get_logger(__name__)

__all__ = ["Report", "last_results", "maybe_start", "run", "run_automatic"]

#: How far back an automatic run looks besides "since the last good sync": past the provider's
#: own retry span, since an event is only "failed" once the provider stops retrying it
#: (Kobana ~9 h of retries, providers.md §1.9; Transfeera and Celcoin publish no spacing).
LOOKBACK = {"kobana": timedelta(hours=12), "transfeera": timedelta(hours=24), "celcoin": timedelta(hours=24)}
#: Overlap with the previous good window, against clock skew and late-indexed deliveries.
OVERLAP = timedelta(minutes=10)
#: An automatic window never reaches further back than this (a sync broken for weeks).
MAX_AUTO_WINDOW = timedelta(days=30)
#: GETs of Kobana's hourly 60 left for the operator's own use: a run stops when this few remain.
KOBANA_GET_RESERVE = 5
#: Kobana pages one run reads at most (50 deliveries each).
KOBANA_MAX_PAGES = 20
#: A provider's run holds its lock at most this long (a crashed holder's lock expires).
LOCK_TTL = 900
DUE_KEY = "webhooks:sync:due"
LOCK_KEY = "webhooks:sync:lock:"


@dataclass
class Report:
    """What one run found and did for one provider (``resync --format json`` prints ``to_dict``)."""

    provider: str
    since: datetime
    until: datetime
    dry_run: bool = False
    found: int = 0
    ingested: int = 0
    duplicate: int = 0
    requested_resend: int = 0
    would_ingest: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: False when the run stopped early (rate limit) and the cursor holds where to resume.
    complete: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("found", "ingested", "duplicate", "requested_resend")}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            **self.counts(),
            "errors": list(self.errors),
            "notes": list(self.notes),
            "complete": self.complete,
            "dry_run": self.dry_run,
            "window": {"since": _iso(self.since), "until": _iso(self.until)},
        }
        if self.dry_run:
            out["would_ingest"] = self.would_ingest
        return out


@dataclass
class Context:
    """What a run needs; ``http_options`` reach the API clients (tests inject ``sleep``)."""

    settings: Settings
    engine: Engine
    connection: redis.Redis
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    http_options: dict[str, Any] = field(default_factory=dict)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


# --- ingest: the door's path ------------------------------------------------------------------


def _ingest(
    ctx: Context, report: Report, provider_name: str, raw: bytes, *, headers: dict[str, str], content_type: str
) -> None:
    provider = providers.PROVIDERS[provider_name]
    envelope = providers.receive(
        provider, headers, raw, content_type=content_type, entity=None, received_at=ctx.now(), request_id=None
    )
    envelope = dataclasses.replace(envelope, source=RESYNC, trust=TRUST_API)
    report.found += 1
    if _stored(ctx.engine, provider_name, envelope.idempotency_key):
        report.duplicate += 1
        return
    if report.dry_run:
        report.would_ingest += 1
        return
    result = enqueue_event(ctx.connection, events_queue(ctx.connection), envelope, ctx.settings)
    if result == "duplicate":
        report.duplicate += 1
    else:
        report.ingested += 1
        if envelope.status == "quarantined":
            report.notes.append(f"{envelope.idempotency_key}: does not validate; quarantined for an operator")


def _stored(engine: Engine, provider: str, key: str) -> bool:
    query = select(EventRecord.id).where(
        EventRecord.provider == provider, EventRecord.idempotency_key == bounded_key(key)
    )
    with engine.connect() as connection:
        return connection.execute(query).first() is not None


# --- per provider -----------------------------------------------------------------------------


def _sync_kobana(ctx: Context, api: Any, report: Report) -> None:
    cursor = _load_cursor(ctx.engine, "kobana")
    page = 1
    if cursor and cursor.get("page"):
        # Resume one page early: deliveries leaving the failed list shift the rest up a page.
        page = max(1, int(cursor["page"]) - 1)
        saved_since = datetime.fromisoformat(cursor["since"]) if cursor.get("since") else report.since
        report.since = min(report.since, saved_since)
        report.notes.append(f"resumed an interrupted scan at page {page}")
    for _ in range(KOBANA_MAX_PAGES):
        left = api.gets_left
        if left is not None and left <= KOBANA_GET_RESERVE:
            _stop_politely(ctx, report, page, f"only {left} GET requests left this hour")
            return
        try:
            deliveries = api.failed_deliveries(page)
        except RateLimited as exc:
            wait = f"{exc.retry_after:.0f} s" if exc.retry_after is not None else "a while"
            _stop_politely(ctx, report, page, f"Kobana's rate limit: retry after {wait}")
            return
        reached_start = False
        for delivery in deliveries:
            created = delivery.created_at
            if created is not None and created > report.until:
                continue
            if created is not None and created < report.since:
                reached_start = True
                continue
            payload = delivery.payload
            raw = payload.encode() if isinstance(payload, str) else exact_json(payload)
            content_type = delivery.content_type if isinstance(payload, str) else "application/json"
            headers = {"X-Kobana-Delivery-Id": delivery.uid}
            if delivery.event_code:
                headers["X-Kobana-Event"] = delivery.event_code
            _ingest(ctx, report, "kobana", raw, headers=headers, content_type=content_type)
        if reached_start or len(deliveries) < KOBANA_PER_PAGE:
            if not report.dry_run:
                _save_cursor(ctx.engine, "kobana", None)
            return
        page += 1
        if not report.dry_run:
            _save_cursor(ctx.engine, "kobana", _kobana_cursor(report, page))
    _stop_politely(ctx, report, page, f"read {KOBANA_MAX_PAGES} pages, the most one run reads")


def _kobana_cursor(report: Report, page: int) -> dict[str, Any]:
    return {"page": page, "since": report.since.isoformat(), "until": report.until.isoformat()}


def _stop_politely(ctx: Context, report: Report, page: int, why: str) -> None:
    report.complete = False
    report.notes.append(f"stopped at page {page}: {why}; the next run resumes there")
    if not report.dry_run:
        _save_cursor(ctx.engine, "kobana", _kobana_cursor(report, page))


def _sync_transfeera(ctx: Context, api: Any, report: Report) -> None:
    for event in api.undelivered(report.since, report.until):
        _ingest(ctx, report, "transfeera", exact_json(event.envelope), headers={}, content_type="application/json")


def _sync_celcoin(ctx: Context, api: Any, report: Report) -> None:
    limit = ctx.now() - REPLAY_LIMIT
    if report.until <= limit:
        report.notes.append(
            "the whole window is older than Celcoin's 7-day replay limit: Celcoin cannot resend it; "
            "use Celcoin's transaction-status APIs for those events"
        )
        return
    since = report.since
    if since < limit:
        report.notes.append(
            f"window starts before Celcoin's 7-day replay limit: asked from {_iso(limit)} only; "
            "older events need Celcoin's transaction-status APIs"
        )
        since = limit
    for subscription in api.subscriptions():
        if not subscription.active:
            continue
        pending = api.pending_count(subscription.entity, since, report.until)
        report.found += pending
        if pending and not report.dry_run:
            api.resend(subscription.entity, since, report.until)
            report.requested_resend += pending
    if report.requested_resend:
        report.notes.append("Celcoin resends asynchronously: the events arrive through the door")


SYNCS: dict[str, Callable[[Context, Any, Report], None]] = {
    "kobana": _sync_kobana,
    "transfeera": _sync_transfeera,
    "celcoin": _sync_celcoin,
}


# --- running ----------------------------------------------------------------------------------


def run(ctx: Context, provider: str, since: datetime, until: datetime, *, dry_run: bool = False) -> Report:
    """One provider's resync over [since, until], exclusive across processes, recorded unless dry."""
    report = Report(provider, since.astimezone(UTC), until.astimezone(UTC), dry_run=dry_run)
    if provider not in ctx.settings.api_providers:
        report.errors.append(f"{provider}: API credentials not configured (docs/provider-sync.md)")
        return report
    lock = ctx.connection.lock(LOCK_KEY + provider, timeout=LOCK_TTL, blocking=False)
    try:
        if not lock.acquire():
            report.errors.append(f"{provider}: another sync of this provider is running")
            return report
    except redis.RedisError as exc:
        report.errors.append(f"{provider}: Redis unavailable ({type(exc).__name__})")
        return report
    api = open_api(provider, ctx.settings, **ctx.http_options)
    try:
        SYNCS[provider](ctx, api, report)
    except QueueUnavailable as exc:
        report.errors.append(f"{provider}: {exc}")
    except ApiError as exc:
        report.errors.append(str(exc))
    except SQLAlchemyError as exc:
        report.errors.append(f"{provider}: database unavailable ({type(exc).__name__})")
    finally:
        api.http.close()
        try:
            lock.release()
        except redis.RedisError:
            pass  # it expires (LOCK_TTL)
    if not dry_run:
        try:
            record(ctx.engine, report, ctx.now())
        except SQLAlchemyError as exc:
            report.errors.append(f"{provider}: result not recorded, database unavailable ({type(exc).__name__})")
    log.info("provider.sync", provider=provider, ok=report.ok, complete=report.complete, **report.counts())
    return report


def record(engine: Engine, report: Report, now: datetime) -> None:
    """Store the run's result; ``synced_until`` advances only after a complete, clean run."""
    with Session(engine) as session, session.begin():
        state = row(session, report.provider)
        state.last_run_at = now
        state.last_since, state.last_until = report.since, report.until
        state.last_ok, state.last_complete = report.ok, report.complete
        state.last_error = "; ".join(report.errors)[:2000] or None
        state.last_counts = {**report.counts(), "notes": report.notes[:10]}
        state.recovered = (state.recovered or 0) + report.ingested
        if report.ok:
            state.last_ok_at = now
            if report.complete:
                previous = db.utc(state.synced_until)
                state.synced_until = max(previous, report.until) if previous else report.until


def automatic_window(engine: Engine, provider: str, now: datetime) -> tuple[datetime, datetime]:
    """Since the last good sync (minus an overlap), and at least the provider's retry span back."""
    with Session(engine) as session:
        state = session.get(ProviderSync, provider)
        synced = db.utc(state.synced_until) if state else None
    since = now - LOOKBACK[provider]
    if synced is not None:
        since = min(since, synced - OVERLAP)
    return max(since, now - MAX_AUTO_WINDOW), now


def run_automatic(ctx: Context) -> list[Report]:
    """Every configured provider over its automatic window (what the worker runs each interval)."""
    reports = []
    for provider in ctx.settings.api_providers:
        since, until = automatic_window(ctx.engine, provider, ctx.now())
        try:
            reports.append(run(ctx, provider, since, until))
        except Exception as exc:  # noqa: BLE001 - a background thread: record it, never die silently
            log.exception("provider.sync_crashed", provider=provider)
            report = Report(provider, since, until, errors=[f"{provider}: {type(exc).__name__}"])
            record(ctx.engine, report, ctx.now())
            reports.append(report)
    return reports


_thread: threading.Thread | None = None


def maybe_start(connection: redis.Redis, settings: Settings) -> threading.Thread | None:
    """From the worker's maintenance: start the automatic sync in a thread if it is due.

    Due = this process has no sync running and no worker claimed the current interval
    (``SET NX EX interval``: one worker per interval). Returns the thread it started, if any.
    """
    global _thread
    if not settings.api_providers or (_thread is not None and _thread.is_alive()):
        return None
    if not connection.set(DUE_KEY, "1", nx=True, ex=settings.provider_sync_interval):
        return None
    _thread = threading.Thread(target=_background, args=(settings,), name="provider-sync", daemon=True)
    _thread.start()
    return _thread


def _background(settings: Settings) -> None:
    engine = db.engine_from(settings)  # its own: the job loop's engine is not shared across threads
    connection = connect(settings)
    try:
        run_automatic(Context(settings, engine, connection))
    except Exception:  # noqa: BLE001 - the worker's job loop must not care
        log.exception("provider.sync_failed")
    finally:
        connection.close()
        engine.dispose()


def _load_cursor(engine: Engine, provider: str) -> dict[str, Any] | None:
    with Session(engine) as session:
        state = session.get(ProviderSync, provider)
        return dict(state.cursor) if state and state.cursor else None


def _save_cursor(engine: Engine, provider: str, cursor: dict[str, Any] | None) -> None:
    with Session(engine) as session, session.begin():
        row(session, provider).cursor = cursor
