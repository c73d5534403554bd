"""A drained batch looks up its ledger rows one index probe per key, whatever the statistics say.

Autovacuum analyses a table some time after it changed, and never where it is off (as on the
machines this project is measured on). Until then PostgreSQL plans an ``IN`` list of a batch's
object ids as a scan of the whole table: at 700 deliveries/s, a scan per batch that grew with the
ledger (bench/results.md). Here every statement of a batch (its events stored, the ledger's batch
form with its discrepancies) is explained by ``auto_explain`` as it runs, on a ledger never analysed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from tests.databases import fresh_database
from tests.ledger_helpers import body, deliver_batch

#: The tables a batch reads by a key: none may be scanned whole.
LEDGER_TABLES = ("ledger_objects", "ledger_facts", "discrepancies", "discrepancy_notes", "events")


def _ledger_of(engine: sa.Engine, rows: int) -> None:
    """By SQL, never analysed: ``rows`` paid boletos with their uids as akas and an open discrepancy
    each, and as many Transfeera transfers and refunds carrying the references returns are matched by."""
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO ledger_objects (object_id, provider, kind, status, expected_cents, settled_cents,
                                        opened_at, last_event_at, aka, state)
            SELECT 'kobana:' || g, 'kobana', 'boleto', 'paid', 0, 34990, now(), now(), 'kobana:uid-' || g, '{}'
            FROM generate_series(1, :rows) AS g"""), {"rows": rows})  # fmt: skip
        conn.execute(sa.text("""
            INSERT INTO discrepancies (object_id, provider, kind, type, status, expected_cents, settled_cents,
                                       opened_at)
            SELECT 'kobana:' || g, 'kobana', 'boleto', 'unknown_charge', 'open', 0, 34990, now()
            FROM generate_series(1, :rows) AS g"""), {"rows": rows})  # fmt: skip
        conn.execute(sa.text("""
            INSERT INTO ledger_objects (object_id, provider, kind, status, expected_cents, settled_cents,
                                        opened_at, last_event_at, end_to_end_id, state)
            SELECT 'transfeera:' || kind || g, 'transfeera', kind, 'paid', 100, 100, now(), now(), 'E' || g,
                   jsonb_build_object('object_id', 'transfeera:' || kind || g, 'provider', 'transfeera',
                                      'kind', kind, 'refs', jsonb_build_object(
                                          'client_code', 'cc' || g, 'original_client_code', 'cc' || g,
                                          'original_id', 'o' || g, 'transfer_id', 't' || g,
                                          'original_end_to_end_id', 'E' || g))
            FROM generate_series(1, :rows) AS g, (VALUES ('transfer'), ('transfer_refund')) AS kinds(kind)"""),
                     {"rows": rows})  # fmt: skip


def _boletos() -> list[tuple[str, dict[str, Any], str]]:
    """28 boletos paid, as a drain at a steady rate takes them, and one named by its id alone:
    its object might be one already known by that id as an aka."""
    paid = [("kobana", body("kobana", "bank_billet.paid.json", **{"object.id": 900_000 + n,
                                                                  "object.uid": f"new-{n}"}), f"d-{n}")
            for n in range(28)]  # fmt: skip
    return [*paid, ("kobana", body("kobana", "bank_billet.paid.json", **{"object.id": 17, "object.uid": None}), "d")]


def _refunds() -> list[tuple[str, dict[str, Any], str]]:
    """A backlog's batch of 200: 100 transfers and 100 refunds, each judged with its counterpart."""
    items = []
    for n in range(100):
        items.append(("transfeera", body("transfeera", "Transfer.json", id=f"t-{n}", **{"data.id": 5000 + n}), f"t{n}"))
        refund = {"data.id": f"r-{n}", "data.transfer_id": str(5000 + n), "data.end2end_id": f"R{n}"}
        items.append(("transfeera", body("transfeera", "TransferRefund.json", id=f"r-{n}", **refund), f"r{n}"))
    return items


def _explained(engine: sa.Engine) -> list[str]:
    """Every plan PostgreSQL runs on ``engine``'s connections from now on, as auto_explain sends it."""
    plans: list[str] = []

    @sa.event.listens_for(engine, "connect")
    def _explain(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        with dbapi_connection.cursor() as cursor:
            cursor.execute("LOAD 'auto_explain'")
            cursor.execute("SET auto_explain.log_min_duration = 0")
            cursor.execute("SET auto_explain.log_level = notice")

    return plans


@pytest.mark.parametrize("batch", [_boletos, _refunds], ids=["boletos", "transfers-and-refunds"])
def test_a_drained_batch_scans_no_ledger_table_before_autovacuum_analysed_it(tmp_path, database_url, batch):
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL planner property")
    with fresh_database(tmp_path) as url:
        setup = sa.create_engine(url)
        _ledger_of(setup, 3_000)
        setup.dispose()
        engine = sa.create_engine(url)
        plans = _explained(engine)
        deliver_batch(engine, *batch())
        engine.dispose()
    scanned = [p for p in plans if re.search(rf"Seq Scan on ({'|'.join(LEDGER_TABLES)})\b", p)]
    assert plans and not scanned, "\n\n".join(scanned)
