"""Discrepancies inbox, detail and actions; the object timeline ``/console/objects/<object_id>``."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ledger import discrepancies as workflow
from ledger.discrepancies import REASONS, STATUSES, DiscrepancyRow, WorkflowError
from ledger.models import LedgerFact, LedgerObject
from ledger.vocab import DISCREPANCY_TYPES
from providers import PROVIDERS
from web.console import store
from web.console.auth import VIEWER, record, requires
from web.console.blueprint import bp
from web.console.i18n import gettext as _

PAGE = 100
#: The references the timeline shows, by the state's ``refs`` names.
REFERENCES = ("txid", "end_to_end_id", "external_id", "our_number", "client_code", "transfer_id", "original_id",
              "original_end_to_end_id")  # fmt: skip


def _day_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, _("Dates must look like 2026-10-31."))


@bp.get("/discrepancies")
@requires(VIEWER)
def discrepancies() -> str:
    status = request.args.get("status") or workflow.OPEN
    type_ = request.args.get("type") or None
    provider = request.args.get("provider") or None
    if status not in STATUSES or (type_ and type_ not in DISCREPANCY_TYPES) or (provider and provider not in PROVIDERS):
        abort(400, _("Unknown filter value."))
    after = request.args.get("after", type=int)
    with store.reading() as db_session:
        rows = workflow.listing(db_session, status=status, type=type_, provider=provider, date_from=_day_arg("from"),
                                date_to=_day_arg("to"), after_id=after, limit=PAGE + 1)  # fmt: skip
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "after" and v}
    next_url = url_for("console.discrepancies", **args, after=rows[-1].id) if more else None
    return render_template("discrepancies.html", rows=rows, status=status, type=type_, provider=provider,
                           statuses=STATUSES, types=DISCREPANCY_TYPES, providers=sorted(PROVIDERS),
                           args=request.args, next_url=next_url, tabs=_tabs())  # fmt: skip


def _tabs() -> dict[str, str]:
    return {
        workflow.OPEN: _("Open ones"),
        workflow.ACKNOWLEDGED: _("Being worked on"),
        workflow.RESOLVED: _("Resolved ones"),
    }


@bp.get("/discrepancies/<int:discrepancy_id>")
@requires(VIEWER)
def discrepancy(discrepancy_id: int) -> str:
    with store.reading() as db_session:
        row = db_session.get(DiscrepancyRow, discrepancy_id)
        if row is None:
            abort(404)
        notes = list(row.notes)
    return render_template("discrepancy.html", row=row, notes=notes, reasons=REASONS)


def _act(discrepancy_id: int, action: str, fn: Any, **kwargs: Any) -> Any:
    with store.writing() as db_session:
        try:
            row = fn(db_session, discrepancy_id, current_user.email, **kwargs)
        except WorkflowError as exc:
            db_session.rollback()
            if "no discrepancy" in str(exc):
                abort(404)
            flash(str(exc), "error")
            return redirect(url_for("console.discrepancy", discrepancy_id=discrepancy_id)), 409
        record(db_session, f"discrepancy_{action}", f"discrepancy {discrepancy_id} ({row.object_id} {row.type})",
               detail=" ".join(f"{k}={v}" for k, v in kwargs.items() if v))  # fmt: skip
    flash(_("Done."), "ok")
    return redirect(url_for("console.discrepancy", discrepancy_id=discrepancy_id))


@bp.post("/discrepancies/<int:discrepancy_id>/acknowledge")
@requires(VIEWER)
def acknowledge(discrepancy_id: int) -> Any:
    return _act(discrepancy_id, "acknowledge", workflow.acknowledge)


@bp.post("/discrepancies/<int:discrepancy_id>/resolve")
@requires(VIEWER)
def resolve(discrepancy_id: int) -> Any:
    reason = request.form.get("reason", "")
    note = (request.form.get("note") or "").strip()[:2000]
    if reason not in REASONS:
        abort(400, _("Choose a reason from the list."))
    return _act(discrepancy_id, "resolve", workflow.resolve, reason=reason, note=note)


@bp.post("/discrepancies/<int:discrepancy_id>/reopen")
@requires(VIEWER)
def reopen(discrepancy_id: int) -> Any:
    return _act(discrepancy_id, "reopen", workflow.reopen)


@bp.get("/objects/<path:object_id>")
@requires(VIEWER)
def object_timeline(object_id: str) -> str:
    with store.reading() as db_session:
        objects = list(db_session.scalars(select(LedgerObject).where(LedgerObject.object_id == object_id)))
        if not objects:
            abort(404)
        facts = {
            o.id: list(
                db_session.scalars(
                    select(LedgerFact).where(LedgerFact.object_pk == o.id).order_by(LedgerFact.at, LedgerFact.event_id)
                )
            )  # fmt: skip
            for o in objects
        }
        history = workflow.of_object(db_session, object_id)
        notes = {row.id: list(row.notes) for row in history}
    return render_template("object.html", object_id=object_id, objects=objects, facts=facts, history=history,
                           notes=notes, references=REFERENCES)  # fmt: skip
