"""``python -m bench.console``: the console's server time per page on a big PostgreSQL ledger.

Seeds ``--events`` events (default 1,000,000) and ``--objects`` ledger objects (default 300,000,
two facts each, 5 % of them with an open discrepancy) in a fresh schema of ``--database`` with
``INSERT ... SELECT generate_series`` (a few seconds per million rows), then asks every list and
detail page ``--repeat`` times through the app in-process (server time: routing, queries,
templates; no network) as a logged-in admin, and prints the median per page. The issue's
targets: lists and details under 150 ms, a month's reconciliation under 2 s.

    .venv/bin/python -m bench.console --database postgresql://postgres@127.0.0.1:5432/test_console \\
        --events 100000 --objects 30000

The schema is dropped at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

import sqlalchemy as sa

import db
from config import Settings, _database_url
from tests.databases import postgres_schema

#: One month of objects, opened across October 2026 (the reconciliation page reads that month).
MONTH_FROM, MONTH_TO = "2026-10-01", "2026-10-31"

SEED_EVENTS = """
INSERT INTO events (provider, event_code, original_code, idempotency_key, status, occurred_at, received_at,
                    stored_at, processed_at, raw, content_type, attempts, request_id, handlers, validation_errors)
SELECT (ARRAY['kobana','transfeera','celcoin'])[1 + i % 3],
       (ARRAY['bank_billet.paid','Transfer','pix-payment-in'])[1 + i % 3],
       (ARRAY['bank_billet.paid','Transfer','pix-payment-in'])[1 + i % 3],
       'bench-' || i,
       CASE WHEN i % 500 = 0 THEN 'quarantined' WHEN i % 211 = 0 THEN 'failed' ELSE 'processed' END,
       t, t, t, t,
       convert_to('{"id":' || i || ',"object":{"id":' || (i % :objects) || ',"amount":"100.00",'
                  || '"customer_cnpj_cpf":"311.422.058-90"}}', 'UTF8'),
       'application/json', 1, md5(i::text), '["handlers.ledger.keep_ledger"]'::jsonb,
       CASE WHEN i % 500 = 0 THEN '{"object": {"amount": ["Not a valid number."]}}'::jsonb END
FROM generate_series(1, :events) AS i,
     LATERAL (SELECT timestamptz '2026-10-01 03:00Z' + (i * interval '1 second') * (5184000.0 / :events)) AS at(t)
"""
SEED_OBJECTS = """
INSERT INTO ledger_objects (object_id, provider, kind, status, expected_cents, settled_cents, opened_at,
                            last_event_at, external_id, txid, end_to_end_id, state)
SELECT 'kobana:' || (90000000 + i), 'kobana', 'boleto', 'paid', 34990,
       CASE WHEN i % 20 = 0 THEN 30000 ELSE 34990 END, t, t + interval '1 day', 'INV-' || i, 'tx' || i, NULL,
       jsonb_build_object('object_id', 'kobana:' || (90000000 + i), 'provider', 'kobana', 'kind', 'boleto',
           'status', 'paid', 'amount', '349.90', 'created_seen', true,
           'payments', jsonb_build_object('p' || i, CASE WHEN i % 20 = 0 THEN '300.00' ELSE '349.90' END),
           'opened_at', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
           'last_at', to_char((t + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
           'refs', jsonb_build_object('external_id', 'INV-' || i, 'txid', 'tx' || i),
           'event_ids', jsonb_build_array(i * 2 - 1, i * 2), 'adjustments', '{}'::jsonb)
FROM generate_series(1, :objects) AS i,
     LATERAL (SELECT timestamptz '2026-10-01 03:00Z' + (i * interval '1 second') * (2678400.0 / :objects)) AS at(t)
"""
SEED_FACTS = """
INSERT INTO ledger_facts (object_pk, event_id, at, code, fact)
SELECT o.id, e.n, o.opened_at + (e.k * interval '1 hour'), 'bank_billet.paid',
       jsonb_build_object('status', 'paid', 'amount', '349.90', 'at', o.opened_at)
FROM ledger_objects o, LATERAL (VALUES (o.id * 2 - 1, 0), (o.id * 2, 1)) AS e(n, k)
WHERE e.n <= :events
"""
SEED_DISCREPANCIES = """
INSERT INTO discrepancies (object_id, provider, kind, type, status, expected_cents, settled_cents, last_event_id,
                           opened_at, object_opened_at)
SELECT object_id, provider, kind, 'underpaid', 'open', expected_cents, settled_cents, id * 2, now(), opened_at
FROM ledger_objects WHERE settled_cents < expected_cents
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--database", required=True, help="a PostgreSQL URL (a fresh schema is made in it)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--objects", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    base = _database_url({"DATABASE_URL": args.database})
    assert base and base.startswith("postgresql"), "--database must be PostgreSQL"
    with postgres_schema(base, f"bench_console_{int(time.time())}", keep=args.keep) as url:
        settings = Settings(database_url=url, secret_key="bench-console-secret-key-0123456789abcdef")
        engine = db.engine_from(settings)
        started = time.perf_counter()
        with engine.begin() as conn:
            for statement in (SEED_EVENTS, SEED_OBJECTS, SEED_FACTS, SEED_DISCREPANCIES):
                conn.execute(sa.text(statement), {"events": args.events, "objects": args.objects})
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
        print(f"seeded {args.events:,} events, {args.objects:,} objects in {time.perf_counter() - started:.1f} s")
        for row in measure(settings, engine, args.repeat):
            print(row)
        engine.dispose()
    return 0


def measure(settings: Settings, engine: sa.Engine, repeat: int) -> list[str]:
    from app import create_app
    from tests.console_helpers import add_user, login

    add_user(engine, "admin")
    app = create_app(settings)
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    with engine.connect() as conn:
        event_id = conn.scalar(sa.text("SELECT max(id) / 2 FROM events"))
        failed_id = conn.scalar(sa.text("SELECT max(id) FROM events WHERE status = 'failed'"))
        object_id = conn.scalar(sa.text("SELECT object_id FROM ledger_objects ORDER BY id DESC LIMIT 1 OFFSET 100"))
        discrepancy_id = conn.scalar(sa.text("SELECT max(id) / 2 FROM discrepancies"))
        deep = conn.scalar(sa.text("SELECT max(id) / 3 FROM events"))
    pages = [
        ("overview", "/console/"),
        ("events list", "/console/events"),
        ("events list, page deep in the log", f"/console/events?before={deep}"),
        ("events, status=failed", "/console/events?status=failed"),
        ("events, provider + code family", "/console/events?provider=kobana&code=bank_billet.*"),
        ("events, q=object id", f"/console/events?q={object_id}"),
        ("events, q=external id", f"/console/events?q=INV-{object_id.split(':')[1][-5:].lstrip('0') or 1}"),
        ("events, q=idempotency key", f"/console/events?q=bench-{event_id}"),
        ("events, from/to", "/console/events?from=2026-10-20&to=2026-10-21"),
        ("event detail", f"/console/events/{event_id}"),
        ("failed event detail", f"/console/events/{failed_id}"),
        ("quarantine", "/console/quarantine"),
        ("discrepancies (open)", "/console/discrepancies"),
        (
            "discrepancies, type + provider + dates",
            "/console/discrepancies?type=underpaid&provider=kobana&from=2026-10-10&to=2026-10-12",
        ),  # fmt: skip
        ("discrepancy detail", f"/console/discrepancies/{discrepancy_id}"),
        ("object timeline", f"/console/objects/{object_id}"),
        ("audit", "/console/audit"),
        (f"reconciliation {MONTH_FROM}..{MONTH_TO}", f"/console/reconciliation?from={MONTH_FROM}&to={MONTH_TO}"),
        (
            "reconciliation.csv (the CLI's full computation)",
            f"/console/reconciliation.csv?from={MONTH_FROM}&to={MONTH_TO}",
        ),
    ]
    rows = [f"{'page':<45} {'median ms':>10} {'max ms':>8}  (as of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"]
    for name, path in pages:
        times = []
        runs = repeat if not name.startswith("reconciliation.csv") else 1
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        rows.append(f"{name:<45} {statistics.median(times):>10.1f} {max(times):>8.1f}")
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
