"""Admins: the audit log ``/console/audit`` and the users ``/console/users`` (create, disable)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from web.console import passwords, store
from web.console.auth import ADMIN, record, requires
from web.console.blueprint import bp
from web.console.i18n import gettext as _
from web.console.models import ROLES, AuditEntry, User

PAGE = 100


@bp.get("/audit")
@requires(ADMIN)
def audit() -> str:
    before = request.args.get("before", type=int)
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(PAGE + 1)
    if before:
        query = query.where(AuditEntry.id < before)
    with store.reading() as db_session:
        rows = list(db_session.scalars(query))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return render_template(
        "audit.html", rows=rows, next_url=url_for("console.audit", before=rows[-1].id) if more else None
    )


@bp.get("/users")
@requires(ADMIN)
def users() -> str:
    with store.reading() as db_session:
        rows = list(db_session.scalars(select(User).order_by(User.email)))
    return render_template("users.html", rows=rows, roles=ROLES)


@bp.post("/users")
@requires(ADMIN)
def create_user() -> Any:
    email = (request.form.get("email") or "").strip().lower()
    role = request.form.get("role", "")
    password = request.form.get("password") or ""
    if "@" not in email or len(email) > 254 or role not in ROLES:
        abort(400, _("Give an e-mail address and a role."))
    try:
        hashed = passwords.hash_password(password)
    except ValueError:
        abort(400, _("A password needs at least %(n)s characters.", n=passwords.MIN_LENGTH))
    now = datetime.now(UTC)
    with store.writing() as db_session:
        if db_session.scalar(select(func.count()).select_from(User).where(User.email == email)):
            flash(_("That e-mail already has a user."), "error")
            return redirect(url_for("console.users")), 409
        db_session.add(User(email=email, role=role, password_hash=hashed, active=True, created_at=now,
                            password_changed_at=now))  # fmt: skip
        record(db_session, "user_create", email, detail=f"role={role}")
    flash(_("User created."), "ok")
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>/disable")
@requires(ADMIN)
def disable_user(user_id: int) -> Any:
    with store.writing() as db_session:
        row = db_session.get(User, user_id)
        if row is None:
            abort(404)
        row.active = False
        record(db_session, "user_disable", row.email)
    flash(_("User disabled."), "ok")
    return redirect(url_for("console.users"))
