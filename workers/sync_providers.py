"""What a resync does at each provider (docs/provider-sync.md), registered by ``@step``.

- **Kobana**: walk ``GET /v1/webhook_deliveries?status=2`` newest first and ingest each
  ``request_payload`` under its delivery ``uid`` (= ``X-Kobana-Delivery-Id``). Never ask Kobana to
  resend (its docs discourage it). 60 GET/hour: stop politely before the budget runs out or on a
  long 429, keep the page in ``provider_sync.cursor`` and resume there next run;
- **Transfeera**: ingest each undelivered event of the window under its envelope ``id``;
- **Celcoin**: per subscription pointing at us, count the window's pending webhooks and ask the
  replay API to resend them (they arrive at the door); Celcoin resends only up to 7 days back.

Only registrations that point at our door (``/webhooks/<provider>``) count: another system on the
same provider account keeps its own deliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.sync_state import ProviderSync, row
from ledger.traffic.bodies import dumps as exact_json
from providers.api.celcoin import REPLAY_LIMIT
from providers.api.http import RateLimited
from providers.api.kobana import PER_PAGE as KOBANA_PER_PAGE
from providers.api.register import points_at_us
from workers.sync_ingest import Context, Report, ingest, iso

Step = Callable[[Context, Any, Report], None]
#: Provider name → what its resync does; filled by ``@step``.
STEPS: dict[str, Step] = {}

#: GETs of Kobana's hourly 60 left for the operator's own use: a run stops when this few remain.
KOBANA_GET_RESERVE = 5
#: Kobana pages one run reads at most (50 deliveries each).
KOBANA_MAX_PAGES = 20
#: How long the ids of our Kobana webhooks are trusted before one GET refreshes them.
KOBANA_WEBHOOKS_TTL = timedelta(hours=6)


def step(provider: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        if provider in STEPS:
            raise ValueError(f"a resync step for {provider!r} is already registered")
        STEPS[provider] = fn
        return fn

    return register


# --- Kobana -----------------------------------------------------------------------------------


@step("kobana")
def kobana(ctx: Context, api: Any, report: Report) -> None:
    cursor = load_cursor(ctx.engine, "kobana")
    scan = cursor.get("scan") or {}
    page = 1
    if scan.get("page"):
        # Resume one page early: deliveries leaving the failed list shift the rest up a page.
        page = max(1, int(scan["page"]) - 1)
        report.since = min(report.since, datetime.fromisoformat(scan["since"]))
        report.notes.append(f"resumed an interrupted scan at page {page}")
    try:
        ours = _our_kobana_webhooks(ctx, api, report, cursor)
    except RateLimited:
        _stop_politely(ctx, report, page, "Kobana's rate limit (listing our webhooks)")
        return
    only = next(iter(ours)) if ours is not None and len(ours) == 1 else None
    for _ in range(KOBANA_MAX_PAGES):
        left = api.gets_left
        if left is not None and left <= KOBANA_GET_RESERVE:
            _stop_politely(ctx, report, page, f"only {left} GET requests left this hour")
            return
        try:
            deliveries = api.failed_deliveries(page, webhook_id=only)
        except RateLimited as exc:
            wait = f"{exc.retry_after:.0f} s" if exc.retry_after is not None else "a while"
            _stop_politely(ctx, report, page, f"Kobana's rate limit: retry after {wait}")
            return
        reached_start = False
        for delivery in deliveries:
            created = delivery.created_at
            if ours is not None and delivery.webhook_id is not None and delivery.webhook_id not in ours:
                continue  # another system's webhook on the same account
            if created is not None and created > report.until:
                continue
            if created is not None and created < report.since:
                reached_start = True
                continue
            _ingest_delivery(ctx, report, delivery)
        if reached_start or len(deliveries) < KOBANA_PER_PAGE:
            _save_scan(ctx, report, None)
            return
        page += 1
        _save_scan(ctx, report, page)
    _stop_politely(ctx, report, page, f"read {KOBANA_MAX_PAGES} pages, the most one run reads")


def _ingest_delivery(ctx: Context, report: Report, delivery: Any) -> None:
    payload = delivery.payload
    raw = payload.encode() if isinstance(payload, str) else exact_json(payload)
    content_type = delivery.content_type if isinstance(payload, str) else "application/json"
    headers = {"X-Kobana-Delivery-Id": delivery.uid}
    if delivery.event_code:
        headers["X-Kobana-Event"] = delivery.event_code
    ingest(ctx, report, "kobana", raw, headers=headers, content_type=content_type)


def _our_kobana_webhooks(ctx: Context, api: Any, report: Report, cursor: dict[str, Any]) -> set[str] | None:
    """Ids of the webhooks pointing at our door (cached in the cursor: GETs are scarce), or None
    when none does (registered behind another path?): then every failed delivery is taken."""
    cached = cursor.get("ours") or {}
    if cached.get("at") and ctx.now() - datetime.fromisoformat(cached["at"]) < KOBANA_WEBHOOKS_TTL:
        ids = set(cached.get("ids") or ())
    else:
        ids = {hook.id for hook in api.webhooks() if points_at_us(hook.url, "kobana")}
        if not report.dry_run:
            save_cursor(ctx.engine, "kobana", ours={"ids": sorted(ids), "at": ctx.now().isoformat()})
    if not ids:
        report.notes.append("no Kobana webhook points at /webhooks/kobana: took failed deliveries of every webhook")
        return None
    return ids


def _save_scan(ctx: Context, report: Report, page: int | None) -> None:
    if report.dry_run:
        return
    scan = (
        None if page is None else {"page": page, "since": report.since.isoformat(), "until": report.until.isoformat()}
    )
    save_cursor(ctx.engine, "kobana", scan=scan)


def _stop_politely(ctx: Context, report: Report, page: int, why: str) -> None:
    report.complete = False
    report.notes.append(f"stopped at page {page}: {why}; the next run resumes there")
    _save_scan(ctx, report, page)


# --- Transfeera and Celcoin -------------------------------------------------------------------


@step("transfeera")
def transfeera(ctx: Context, api: Any, report: Report) -> None:
    for event in api.undelivered(report.since, report.until):
        ingest(ctx, report, "transfeera", exact_json(event.envelope), headers={}, content_type="application/json")


@step("celcoin")
def celcoin(ctx: Context, api: Any, report: Report) -> None:
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
            f"window starts before Celcoin's 7-day replay limit: asked from {iso(limit)} only; "
            "older events need Celcoin's transaction-status APIs"
        )
        since = limit
    subscriptions = [s for s in api.subscriptions() if s.active and points_at_us(s.url, "celcoin")]
    if not subscriptions:
        report.notes.append("no active Celcoin subscription points at /webhooks/celcoin: nothing to replay")
    for subscription in subscriptions:
        pending = api.pending_count(subscription.entity, since, report.until)
        report.found += pending
        if pending and not report.dry_run:
            api.resend(subscription.entity, since, report.until)
            report.requested_resend += pending
    if report.requested_resend:
        report.notes.append("Celcoin resends asynchronously: the events arrive through the door")


# --- the cursor -------------------------------------------------------------------------------


def load_cursor(engine: Engine, provider: str) -> dict[str, Any]:
    with Session(engine) as session:
        state = session.get(ProviderSync, provider)
        return dict(state.cursor) if state and state.cursor else {}


def save_cursor(engine: Engine, provider: str, **parts: Any) -> None:
    """Replace the given parts of the provider's cursor (``None`` removes one), keep the rest."""
    with Session(engine) as session, session.begin():
        state = row(session, provider)
        cursor = dict(state.cursor or {})
        for key, value in parts.items():
            if value is None:
                cursor.pop(key, None)
            else:
                cursor[key] = value
        state.cursor = cursor or None
