"""``flask users ...``: accounts from a terminal, passwords only on stdin, every change audited."""

from __future__ import annotations

import sqlalchemy as sa

import db
from tests.console_helpers import login
from web.console.models import AuditEntry, User


def test_create_list_disable_and_set_password(app, client, engine):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["users", "create", "Viewer@Example.com", "--role", "viewer", "--password-stdin"],
                            input="correct-horse-battery-staple\n")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "correct-horse" not in created.output
    assert login(client, "viewer").status_code == 302  # stored lower-cased, logs in with the password given
    assert "viewer@example.com" in runner.invoke(args=["users", "list"]).output
    assert runner.invoke(args=["users", "disable", "viewer@example.com"]).exit_code == 0
    assert client.get("/console/").status_code == 302  # the open session ends with the account
    reset = runner.invoke(args=["users", "set-password", "viewer@example.com", "--password-stdin"],
                          input="another-long-password\n")  # fmt: skip
    assert reset.exit_code == 0
    with db.session_factory(engine)() as session:
        user = session.scalar(sa.select(User))
        assert user.active and user.password_hash.startswith("$argon2id$")
        actions = [a.action for a in session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["user_create", "login", "user_disable", "user_set_password"]


def test_a_short_password_or_a_second_account_is_refused(app):
    runner = app.test_cli_runner()
    short = runner.invoke(
        args=["users", "create", "a@example.com", "--role", "admin", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "at least 12" in short.output
    args = ["users", "create", "a@example.com", "--role", "admin", "--password-stdin"]
    assert runner.invoke(args=args, input="a-long-enough-password\n").exit_code == 0
    again = runner.invoke(args=args, input="a-long-enough-password\n")
    assert again.exit_code != 0 and "exists" in again.output
