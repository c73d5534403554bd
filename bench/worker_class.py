"""Jobs/s of the real ``process_event`` under RQ's SimpleWorker vs the forking worker.

    REDIS_URL=redis://127.0.0.1:6379/1 [DATABASE_URL=postgresql://...] \
        .venv/bin/python bench/worker_class.py [N]

Enqueues N distinct Kobana ``bank_billet.paid`` events (one no-op handler registered), then
drains them with one burst worker of each class and prints jobs/s. Uses its own Redis db and
a temporary SQLite file unless DATABASE_URL is set; flushes the Redis db it is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rq import SimpleWorker
from rq.worker import Worker

import db
from config import PROJECT_ROOT, Settings
from handlers.registry import handler
from ops.logconfig import configure_logging
from providers import PROVIDERS, receive
from workers import jobs
from workers.queue import JOB, connect, queues


@handler("kobana", "bank_billet.paid")
def _noop(event, session):
    return None


def _envelopes(n: int) -> list[dict]:
    data = json.loads((PROJECT_ROOT / "tests" / "samples" / "kobana" / "bank_billet.paid.json").read_text())
    out = []
    for i in range(n):
        data["object"]["id"] = i
        raw = json.dumps(data, separators=(",", ":")).encode()
        env = receive(
            PROVIDERS["kobana"], {}, raw, content_type="application/json", entity=None, received_at=datetime.now(UTC)
        )
        out.append(env.to_dict())
    return out


def run(worker_class: type, settings: Settings, n: int) -> float:
    conn = connect(settings, socket_timeout=None)
    conn.flushdb()
    (events,) = queues(conn)  # exactly one queue (workers/queue.py says why)
    for envelope in _envelopes(n):
        events.enqueue(JOB, envelope, result_ttl=0)
    if worker_class is SimpleWorker:
        jobs.configure(settings)  # as workers/__main__ does; a forking horse builds its own per job
    start = time.perf_counter()
    worker_class([events], connection=conn, serializer="json").work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - start
    conn.flushdb()
    return n / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/worker_class.py",
        description="Jobs/s of process_event under RQ's SimpleWorker vs the forking worker. FLUSHES the "
        "Redis database of REDIS_URL (required, so the embedded Redis is never flushed by accident).",
    )
    parser.add_argument("n", nargs="?", type=int, default=500, help="events per worker class (default 500)")
    n = parser.parse_args(argv).n
    if not os.environ.get("REDIS_URL"):
        parser.error("set REDIS_URL to a Redis database this bench may flush, e.g. redis://127.0.0.1:6379/1")
    tmp = Path(tempfile.mkdtemp())
    settings = Settings.from_env(os.environ).replace(var_dir=tmp, log_level="WARNING")
    configure_logging(settings)
    db.migrate(settings)
    for cls in (SimpleWorker, Worker):
        engine = db.engine_from(settings)
        with engine.begin() as c:
            for table in ("ledger_facts", "ledger_objects", "events"):  # the built-in ledger runs too
                c.exec_driver_sql(f"DELETE FROM {table}")
        engine.dispose()
        rate = run(cls, settings, n)
        print(f"{cls.__name__:12s} {n} events  {rate:7.1f} jobs/s  ({db.database_url(settings).split(':')[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
