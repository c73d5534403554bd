"""Events: list with filters and search, detail (masked), reveal, replay (one, bulk), quarantine."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from db.models import QUARANTINED, STATUSES, EventRecord
from providers import PROVIDERS
from web.cli.events import detail as event_detail
from web.console import store
from web.console.auth import OPERATOR, VIEWER, record, requires
from web.console.blueprint import bp
from web.console.event_filters import EventFilter
from web.console.i18n import gettext as _

PAGE = 50
#: A bulk replay runs inside one web request: more than this is a job for ``flask events replay``.
BULK_MAX = 500


def _filter() -> EventFilter:
    args = request.args if request.method == "GET" else request.form
    provider, status = args.get("provider") or None, args.get("status") or None
    if (provider and provider not in PROVIDERS) or (status and status not in STATUSES):
        abort(400, _("Unknown filter value."))
    days = []
    for name in ("from", "to"):
        raw = args.get(name)
        try:
            days.append(date.fromisoformat(raw) if raw else None)
        except ValueError:
            abort(400, _("Dates must look like 2026-10-31."))
    q = (args.get("q") or "").strip()[:255] or None
    code = (args.get("code") or "").strip()[:255] or None
    return EventFilter(provider, status, code, days[0], days[1], q)


def _filter_args(flt: EventFilter) -> dict[str, Any]:
    pairs = {"provider": flt.provider, "status": flt.status, "code": flt.code, "q": flt.q,
             "from": flt.date_from.isoformat() if flt.date_from else None,
             "to": flt.date_to.isoformat() if flt.date_to else None}  # fmt: skip
    return {k: v for k, v in pairs.items() if v}


def _page(flt: EventFilter, endpoint: str, template: str) -> str:
    before = request.args.get("before", type=int)
    with store.reading() as db_session:
        rows = list(db_session.scalars(flt.resolve(db_session).page(before, PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    next_url = url_for(endpoint, **_filter_args(flt), before=rows[-1].id) if more else None
    return render_template(template, rows=rows, flt=flt, args=_filter_args(flt), next_url=next_url,
                           providers=sorted(PROVIDERS), statuses=STATUSES)  # fmt: skip


@bp.get("/events")
@requires(VIEWER)
def events() -> str:
    return _page(_filter(), "console.events", "events.html")


@bp.get("/quarantine")
@requires(VIEWER)
def quarantine() -> str:
    return _page(EventFilter(status=QUARANTINED), "console.quarantine", "quarantine.html")


def _shown(event_id: int, reveal: bool) -> dict[str, Any]:
    with store.reading() as db_session:
        row = db_session.get(EventRecord, event_id)
        if row is None:
            abort(404)
        shown = event_detail(row, reveal=reveal)
    for name in ("occurred_at", "received_at", "processed_at", "stored_at"):  # shown in São Paulo time
        if shown.get(name):
            shown[name] = datetime.fromisoformat(shown[name].replace("Z", "+00:00"))
    shown["raw_pretty"] = _pretty(shown.get("raw_text"))
    shown["payload_pretty"] = json.dumps(shown.get("payload"), indent=2, ensure_ascii=False)
    shown["errors_pretty"] = json.dumps(shown.get("validation_errors"), indent=2, ensure_ascii=False)
    return shown


def _pretty(text: str | None) -> str:
    if text is None:
        return _("(not UTF-8 text)")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@bp.get("/events/<int:event_id>")
@requires(VIEWER)
def event(event_id: int) -> str:
    return render_template("event.html", event=_shown(event_id, reveal=False), revealed=False)


@bp.post("/events/<int:event_id>/reveal")
@requires(OPERATOR)
def reveal(event_id: int) -> str:
    shown = _shown(event_id, reveal=True)
    with store.writing() as db_session:
        record(db_session, "event_reveal", f"event {event_id}")
    return render_template("event.html", event=shown, revealed=True)


def _replay(event_ids: list[int]) -> list[Any]:
    from web.cli.events import _forget_dead_letters
    from workers import replay  # loads the handlers: only an operator's replay pays for it

    results = [replay.replay(store.sessions(), event_id) for event_id in event_ids]
    ok = [r.job_id for r in results if r.job_id and r.result in ("processed", "ignored", "duplicate")]
    _forget_dead_letters(ok)
    with store.writing() as db_session:
        for r in results:
            record(db_session, "event_replay", f"event {r.log_id}", detail=r.result)
    return results


@bp.post("/events/<int:event_id>/replay")
@requires(OPERATOR)
def replay_one(event_id: int) -> Any:
    with store.reading() as db_session:
        if db_session.get(EventRecord, event_id) is None:
            abort(404)
    [result] = _replay([event_id])
    message = _("Replay of event %(id)s: %(result)s", id=event_id, result=result.result)
    detail = f" ({result.detail})" if result.detail else ""
    flash(message + detail, "ok" if result.result == "processed" else "error")
    return redirect(url_for("console.event", event_id=event_id))


@bp.get("/events/replay")
@requires(OPERATOR)
def replay_confirm() -> str:
    flt = _filter()
    with store.reading() as db_session:
        count = db_session.scalar(flt.resolve(db_session).apply(select(func.count()).select_from(EventRecord))) or 0
    return render_template("replay_confirm.html", flt=flt, args=_filter_args(flt), count=count, limit=BULK_MAX)


@bp.post("/events/replay")
@requires(OPERATOR)
def replay_bulk() -> Any:
    flt = _filter()
    expected = request.form.get("count", type=int)
    with store.reading() as db_session:
        ids = list(db_session.scalars(flt.resolve(db_session).ids().limit(BULK_MAX + 1)))
    if expected is None or expected != len(ids) or len(ids) > BULK_MAX:
        flash(_("The matching events changed or are too many; check the count again."), "error")
        return redirect(url_for("console.replay_confirm", **_filter_args(flt)))
    results = _replay(ids)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.result] = counts.get(r.result, 0) + 1
    flash(_("Replayed %(n)s events: ", n=len(results)) + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), "ok")
    return redirect(url_for("console.events", **_filter_args(flt)))
