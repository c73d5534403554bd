"""Fetch (and lock) many rows by a composite key, one index lookup per key, on any statistics.

``WHERE (a, b) IN ((..), (..), ... 200 pairs)`` is planned from column statistics. Until
autovacuum has analysed a table (a fresh install's first month-end burst) PostgreSQL guesses
most of the table matches and scans all of it for every batch, filtering each row through a
200-way OR: measured, the batch lock grew to ~70 ms at 24,000 rows and halved a drain's rate.
Here the keys arrive as arrays, are unnested, and each one is looked up in a LATERAL subquery
that ``OFFSET 0`` keeps from being flattened into a hash join: an index scan per key whatever
the statistics say. Rows are locked in the order of the keys given, so callers pass them sorted
(two workers then never wait on each other in a cycle). SQLite keeps the plain ``IN``: its
planner uses the index for it.

A one-column key on a column that is not unique by itself (``ledger_objects.object_id`` and
``aka``, ``discrepancies.object_id``) needs it as much: its ``IN`` list is planned from
statistics too, and each such lookup of a batch was a scan on an unanalysed table (1-2 ms at
3,000 rows, growing with it). A column with a unique index of its own (a primary key) is
estimated at one row per value without statistics: a plain ``IN`` serves there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql


class KeyedLookup:
    """Rows of ``table`` whose ``keys`` columns match given tuples; ``columns`` are returned."""

    def __init__(self, table: Table, keys: Sequence[Column[Any]], columns: Sequence[Column[Any]], *, lock: bool):
        self.names = [column.name for column in keys]
        # PostgreSQL: unnest(:k0, :k1) AS wanted(k0, k1) JOIN LATERAL (... OFFSET 0 FOR UPDATE) ON true
        arrays = [bindparam(f"k{i}", type_=postgresql.ARRAY(column.type)) for i, column in enumerate(keys)]
        wanted = func.unnest(*arrays).table_valued(*(f"k{i}" for i in range(len(keys)))).render_derived()
        inner = (
            select(*columns)
            .where(and_(*(column == wanted.c[f"k{i}"] for i, column in enumerate(keys))))
            .offset(literal_column("0"))
        )
        found = (inner.with_for_update() if lock else inner).lateral()
        order = found.c[table.primary_key.columns.values()[0].name]
        self.postgresql: Select[Any] = (
            select(*(found.c[c.name] for c in columns)).select_from(wanted.join(found, true())).order_by(order)
        )
        plain = select(*columns).where(tuple_(*keys).in_(bindparam("keys", expanding=True)))
        plain = plain.order_by(*table.primary_key.columns)
        self.other: Select[Any] = plain.with_for_update() if lock else plain

    def execute(self, connection: Any, dialect: str, keys: Iterable[tuple[Any, ...]]) -> Any:
        """The matching rows (result rows with ``columns``), for ``keys`` in the order given."""
        return connection.execute(*self.statement(dialect, keys))

    def statement(self, dialect: str, keys: Iterable[tuple[Any, ...]]) -> tuple[Select[Any], dict[str, Any]]:
        """The statement for ``dialect`` and its parameters: what ``execute`` runs, for a caller
        that wants ORM objects of it (``select(Model).from_statement(statement)``)."""
        wanted = list(keys)
        if dialect == "postgresql":
            return self.postgresql, {f"k{i}": [key[i] for key in wanted] for i in range(len(self.names))}
        return self.other, {"keys": wanted}


def probes(columns: Sequence[Column[Any]], lookups: Sequence[tuple[Any, Any]]) -> Any:
    """PostgreSQL: ``columns`` of the rows where the expression of lookup *i* equals one of the
    texts bound as ``v<i>`` and its filter (or None) holds; one index probe per value, as above,
    for expressions with an index of their own (a column, ``state #>> '{refs,...}'``). The lookups
    are joined by ``UNION ALL``: a row two of them find comes twice."""
    parts = []
    for i, (expression, also) in enumerate(lookups):
        wanted = func.unnest(bindparam(f"v{i}", type_=postgresql.ARRAY(Text()))).table_valued("k").render_derived()
        conditions = [expression == wanted.c.k, *(() if also is None else (also,))]
        found = select(*columns).where(*conditions).offset(literal_column("0")).lateral()
        parts.append(select(*(found.c[c.name] for c in columns)).select_from(wanted.join(found, true())))
    return parts[0] if len(parts) == 1 else union_all(*parts)
