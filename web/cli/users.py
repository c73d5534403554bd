"""``flask users ...``: the console's accounts (docs/console.md). Passwords only ever on stdin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

import db
from web.console import passwords
from web.console.models import ROLES, User, audit


@contextmanager
def _session() -> Iterator[Session]:
    engine = db.engine_from(current_app.extensions["settings"])
    try:
        with db.session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < passwords.MIN_LENGTH:
        raise click.ClickException(f"the password on stdin needs at least {passwords.MIN_LENGTH} characters")
    return password


def _find(session: Session, email: str) -> User:
    row = session.scalar(select(User).where(User.email == email.strip().lower()))
    if row is None:
        raise click.ClickException(f"no user {email!r}")
    return row


@click.group("users", help="Console users: create, list, disable, set a password.")
def users_cli() -> None:
    pass


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin (never argv).")
@with_appcontext
def create(email: str, role: str, password_stdin: bool) -> None:
    email = email.strip().lower()
    if "@" not in email:
        raise click.BadParameter(f"expected an e-mail address, got {email!r}")
    hashed = passwords.hash_password(_read_password())
    now = datetime.now(UTC)
    with _session() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise click.ClickException(f"user {email!r} exists; use set-password or disable")
        session.add(User(email=email, role=role, password_hash=hashed, active=True, created_at=now,
                         password_changed_at=now))  # fmt: skip
        audit(session, _actor(), "user_create", email, detail=f"role={role}")
    click.echo(f"created {email} ({role})")


@users_cli.command("list")
@with_appcontext
def list_users() -> None:
    with _session() as session:
        for row in session.scalars(select(User).order_by(User.email)):
            click.echo(f"{row.email:<40} {row.role:<9} {'active' if row.active else 'disabled'}")


@users_cli.command("disable")
@click.argument("email")
@with_appcontext
def disable(email: str) -> None:
    with _session() as session:
        row = _find(session, email)
        row.active = False
        audit(session, _actor(), "user_disable", row.email)
    click.echo(f"disabled {email}")


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin (never argv).")
@with_appcontext
def set_password(email: str, password_stdin: bool) -> None:
    """New password; the user's open sessions end."""
    hashed = passwords.hash_password(_read_password())
    with _session() as session:
        row = _find(session, email)
        row.password_hash, row.password_changed_at, row.active = hashed, datetime.now(UTC), True
        audit(session, _actor(), "user_set_password", row.email)
    click.echo(f"password set for {email}")
