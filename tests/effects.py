"""A countable, transactional side effect for test handlers: one ``test_effects`` row per run.

Handlers write through the session they are given, so a row exists only if the transaction
that marked the event processed committed: counting rows counts effects.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from workers.event import Event

EFFECTS = sa.Table(
    "test_effects",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column("handler", sa.String(100), nullable=False),
    sa.Column("event_code", sa.String(128), nullable=False),
)


def create(engine: sa.Engine) -> None:
    EFFECTS.metadata.create_all(engine)


def rows(engine: sa.Engine) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        query = sa.select(EFFECTS.c.event_id, EFFECTS.c.handler, EFFECTS.c.event_code).order_by(EFFECTS.c.id)
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def record(event: Event, session: Session, name: str) -> None:
    session.execute(EFFECTS.insert().values(event_id=event.id, handler=name, event_code=event.event_code))
