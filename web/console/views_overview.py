"""Overview ``/console/`` and Reconciliation ``/console/reconciliation`` (+ ``.csv``, ``.xlsx``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Response, abort, current_app, redirect, render_template, request, session, url_for

from config import Settings
from ledger import discrepancies, render
from ledger.reconcile import Report
from ledger.vocab import DIRECTION
from ops.i18n import LOCALES, local_time
from web.console import chart, queries, store
from web.console.auth import VIEWER, record, requires
from web.console.blueprint import bp
from web.console.i18n import gettext as _
from web.console.i18n import money

#: Discrepancies listed on the reconciliation page; the rest are in the inbox (and every export).
SHOWN = 200


def today() -> date:
    return local_time(datetime.now(UTC)).date()


@bp.get("/")
@requires(VIEWER)
def overview() -> str:
    now_day = today()
    month_start = now_day.replace(day=1)
    with store.reading() as db_session:
        data = {
            "today_totals": queries.totals(db_session, now_day, now_day),
            "month_totals": queries.totals(db_session, month_start, now_day),
            "open_by_type": queries.open_by_type(db_session),
            "event_counts": queries.event_counts(db_session),
        }
        per_day = queries.settled_per_day(db_session, now_day)
    depth, oldest = _inbox()
    svg = chart.settled_chart(per_day, lambda d: d.strftime("%d/%m"), money)
    return render_template("overview.html", today=now_day, month_start=month_start, depth=depth, oldest=oldest,
                           chart=svg, direction=DIRECTION, per_day=per_day, **data)  # fmt: skip


def _inbox() -> tuple[int | None, float | None]:
    """Events waiting in the inbox stream and the oldest one's age in seconds; None if Redis is away."""
    import time

    import redis

    from web.queue import get_connection
    from workers import stream

    try:
        connection = get_connection()
        return stream.depth(connection), stream.oldest_age(connection, time.time())
    except redis.RedisError:
        return None, None


def period() -> tuple[date, date]:
    """``from``/``to`` query parameters (YYYY-MM-DD); by default the current month to today; 400 if malformed."""
    now_day = today()
    try:
        start = date.fromisoformat(request.args.get("from") or now_day.replace(day=1).isoformat())
        end = date.fromisoformat(request.args.get("to") or now_day.isoformat())
    except ValueError:
        abort(400, _("Dates must look like 2026-10-31."))
    if end < start:
        abort(400, _("The end date is before the start date."))
    return start, end


def build(start: date, end: date, provider: str | None = None) -> Report:
    """The same report ``flask reconcile report`` prints for the period, as of now."""
    settings: Settings = current_app.extensions["settings"]
    with store.writing() as db_session:
        return discrepancies.report(db_session, start, end, provider=provider, as_of=datetime.now(UTC),
                                    pending_after=timedelta(hours=settings.ledger_pending_after_hours))  # fmt: skip


@bp.get("/reconciliation")
@requires(VIEWER)
def reconciliation() -> str:
    """The report's figures from SQL aggregates and the discrepancy rows (``discrepancies.summary``),
    fast at any ledger size; the exports compute the whole report (notes, every event id, credits
    per day) from the objects the period can depend on (``discrepancies.period_states``)."""
    start, end = period()
    settings: Settings = current_app.extensions["settings"]
    with store.writing() as db_session:
        report = discrepancies.summary(db_session, start, end,
                                       pending_after=timedelta(hours=settings.ledger_pending_after_hours))  # fmt: skip
    ids = _discrepancy_ids(report)
    return render_template("reconciliation.html", report=report, start=start, end=end, direction=DIRECTION, ids=ids,
                           shown=SHOWN)  # fmt: skip


def _discrepancy_ids(report: Report) -> dict[tuple[str, str, str], int]:
    from sqlalchemy import select

    from ledger.discrepancies import DiscrepancyRow

    keys = {d.object_id for d in report.discrepancies[:SHOWN]}
    if not keys:
        return {}
    with store.reading() as db_session:
        columns = (DiscrepancyRow.id, DiscrepancyRow.object_id, DiscrepancyRow.kind, DiscrepancyRow.type)
        rows = db_session.execute(select(*columns).where(DiscrepancyRow.object_id.in_(sorted(keys))))
        return {(o, k, t): i for i, o, k, t in rows}


@bp.get("/reconciliation.csv")
@requires(VIEWER)
def reconciliation_csv() -> Response:
    start, end = period()
    body = render.to_csv(build(start, end))
    _audit_export("csv", start, end)
    return _download(body.encode("utf-8"), "text/csv; charset=utf-8", f"reconciliation-{start}-{end}.csv")


@bp.get("/reconciliation.xlsx")
@requires(VIEWER)
def reconciliation_xlsx() -> Response:
    from web.console.xlsx import workbook

    start, end = period()
    body = workbook(build(start, end))
    _audit_export("xlsx", start, end)
    mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _download(body, mimetype, f"reconciliation-{start}-{end}.xlsx")


def _audit_export(kind: str, start: date, end: date) -> None:
    with store.writing() as db_session:
        record(db_session, "export", f"reconciliation {start}..{end}", detail=kind)


def _download(body: bytes, mimetype: str, name: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.post("/language")
@requires(VIEWER)
def language() -> Any:
    chosen = request.form.get("lang", "")
    if chosen in LOCALES:
        session["lang"] = chosen
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/console/") and "//" not in back else url_for("console.overview"))
