"""The console's own tables: its users and the audit log (migration 0008_console).

No Flask here: ``flask users ...`` and ``flask reconcile resolve`` write the same rows the
console does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from db import Base

_ID = BigInteger().with_variant(Integer(), "sqlite")

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
#: Each role can do what the roles before it can, and more (docs/console.md "Roles").
ROLES = (VIEWER, OPERATOR, ADMIN)


class User(Base):
    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Sessions started before this instant are refused (a password change logs everyone out).
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def can(self, role: str) -> bool:
        """True when this user's role is ``role`` or above it."""
        return ROLES.index(self.role) >= ROLES.index(role)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    object: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


def audit(
    session: Session, actor: str, action: str, object: str | None = None, ip: str | None = None, detail: str = ""
) -> None:
    """One audit row, in the caller's transaction: the action and its record commit together."""
    session.add(AuditEntry(at=datetime.now(UTC), actor=actor[:254], action=action, object=object, ip=ip,
                           detail=detail or None))  # fmt: skip
