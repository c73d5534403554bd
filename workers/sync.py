"""Provider sync: bring in what a provider gave up delivering, through the door's own path.

``run`` resyncs one provider over a window: exclusive across processes (a Redis lock per
provider, shared by the worker and ``flask providers resync``), its result recorded in
``provider_sync`` (``record``). What it does at each provider is in ``workers.sync_providers``;
how a fetched event becomes the door's envelope, in ``workers.sync_ingest``.

The worker runs ``run_automatic`` every ``PROVIDER_SYNC_INTERVAL`` seconds in a background
thread (``maybe_start``, from its maintenance hook), so event processing never waits on a
provider's API; ``SET NX EX interval`` in Redis elects one worker per interval.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import redis
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import db
from config import Settings
from db.sync_state import ProviderSync, last_results, row
from providers.api import open_api
from providers.api.http import ApiError
from providers.errors import QueueUnavailable
from workers.queue import connect
from workers.sync_ingest import Context, Report
from workers.sync_providers import STEPS

log = structlog.get_logger(__name__)

__all__ = ["Context", "Report", "last_results", "maybe_start", "run", "run_automatic"]

#: How far back an automatic run looks besides "since the last good sync": past the provider's
#: own retry span, since an event is only "failed" once the provider stops retrying it
#: (Kobana ~9 h of retries, providers.md §1.9; Transfeera and Celcoin publish no spacing).
LOOKBACK = {"kobana": timedelta(hours=12), "transfeera": timedelta(hours=24), "celcoin": timedelta(hours=24)}
#: Overlap with the previous good window, against clock skew and late-indexed deliveries.
OVERLAP = timedelta(minutes=10)
#: An automatic window never reaches further back than this (a sync broken for weeks).
MAX_AUTO_WINDOW = timedelta(days=30)
#: A provider's run holds its lock at most this long (a crashed holder's lock expires).
LOCK_TTL = 900
DUE_KEY = "webhooks:sync:due"
LOCK_KEY = "webhooks:sync:lock:"


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
        STEPS[provider](ctx, api, report)
    except (ApiError, QueueUnavailable) as exc:
        report.errors.append(str(exc) if isinstance(exc, ApiError) else f"{provider}: {exc}")
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
        except Exception as exc:
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
    except Exception:
        log.exception("provider.sync_failed")
    finally:
        connection.close()
        engine.dispose()
