"""The worker side: events/s from the queue into the event log and the ledger, and worker RSS.

The backlog is made of distinct ``bank_billet.paid`` events put on the queue through the real
``enqueue_event`` (each one a different boleto, so the ledger creates and folds a new object
per event, as a month-end burst does). A throughput round starts ``python -m workers``
processes, lets them run 8 s past their first processed event, and stops them; the rate comes
from the rows themselves, events processed after the first batch divided by (last processed_at -
first processed_at), so start-up is not counted. The drain round empties a fresh backlog to the
last event and is timed wall-clock from starting the workers, start-up included. Every round
checks one processed row, one distinct key and one ledger fact per event (exactly-once is not
traded for speed).

Growth compares two PostgreSQL schemas prepared once, one empty and one holding 1,000,000
events (and as many ledger objects and facts) bulk-inserted with SQL, in alternating rounds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import psycopg.conninfo
import psycopg.sql
import redis

import db
import providers
from bench import bodies
from bench.ack import Plan, paired, service_env
from bench.procs import PeakRss, Workers, redis_server
from bench.report import DEFAULT_POSTGRES, Report, Row, median
from config import Settings
from providers import kobana
from schemas.envelope import Envelope
from workers import stream

TARGET_RATE = 1000.0
TARGET_DRAIN_SECONDS = 120.0
TARGET_GROWTH = 0.10
TARGET_WORKER_RSS_MB = 150.0
BACKLOG_GOAL = 100_000
GROWTH_ROWS = 1_000_000
#: Alternating empty/full rounds: two left the ratio at the mercy of one noisy round (+8 % then -13 %).
GROWTH_ROUNDS = 3
#: The sample's boleto id and uid; each bench event replaces them with its own (same lengths).
_SAMPLE_ID, _SAMPLE_UID = b"84512377", b"BB7F3A2C9D1E4B6A8F05"


@dataclass(frozen=True)
class Sizes:
    seconds: float  # of processing per throughput round, after the first event is processed
    drain_seconds: float  # the full-drain backlog is sized to take about this long
    growth_rows: int


def sizes(plan: Plan) -> Sizes:
    if plan.seconds < 3:  # --quick
        return Sizes(seconds=3, drain_seconds=5, growth_rows=20_000)
    return Sizes(seconds=8, drain_seconds=20, growth_rows=GROWTH_ROWS)


# -- databases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """One database the workers write to: a SQLite file or a PostgreSQL schema of ours."""

    label: str
    url: str

    @property
    def settings(self) -> Settings:
        return Settings(database_url=self.url)

    def reset(self) -> Store:
        if self.url.startswith("sqlite"):
            path = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            schema = self.url.rsplit("%3D", 1)[1]
            _ensure_database(self.url)
            with psycopg.connect(_libpq(self.url), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                conn.execute(f'CREATE SCHEMA "{schema}"')
        db.migrate(self.settings)
        return self

    def query(self, sql: str, *params: Any) -> Any:
        """One row, read with the bare driver (no ``BEGIN IMMEDIATE``: polling must not block writers)."""
        if self.url.startswith("sqlite"):
            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)) as conn:
                return conn.execute(sql.replace("%s", "?"), params).fetchone()
        with psycopg.connect(_libpq(self.url)) as conn:
            return conn.execute(sql, params).fetchone()

    def max_id(self) -> int:
        return int(self.query("SELECT coalesce(max(id), 0) FROM events")[0])


def sqlite_store(workdir: Path, name: str) -> Store:
    return Store("SQLite", f"sqlite:///{workdir / f'{name}.sqlite3'}")


def postgres_store(base: str, schema: str) -> Store:
    url = base.replace("postgresql://", "postgresql+psycopg://", 1)
    return Store("PostgreSQL", f"{url}?options={quote(f'-csearch_path={schema}')}")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _ensure_database(url: str) -> None:
    """Create the bench's database (``test_bench`` by default) the first time: a fresh machine has none."""
    info = psycopg.conninfo.conninfo_to_dict(_libpq(url))
    name = info.pop("dbname", None)
    info.pop("options", None)
    if not name:
        return
    with psycopg.connect(**{**info, "dbname": "postgres"}, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
            print(f"bench: created PostgreSQL database {name!r}")


# -- the backlog -------------------------------------------------------------------------------


def envelopes(count: int, prefix: str, start: int) -> list[Envelope]:
    """``count`` distinct authentic ``bank_billet.paid`` envelopes, each a different boleto."""
    raw = bodies.paid()
    template = providers.receive(
        kobana, {}, raw, content_type="application/json", entity=None, received_at=datetime.now(UTC)
    )
    out = []
    for i in range(start, start + count):
        body = raw.replace(_SAMPLE_ID, str(10_000_000 + i).encode()).replace(_SAMPLE_UID, f"BENCH{i:015d}".encode())
        out.append(dataclasses.replace(template, idempotency_key=f"delivery:{prefix}-{i}", raw=body,
                                       delivery={"delivery_id": f"{prefix}-{i}"}))  # fmt: skip
    return out


def enqueue(redis_url: str, items: list[Envelope]) -> None:
    """Through the real ``enqueue_event`` (same job, options and dedup fence as the web)."""
    from app import create_app
    from web.queue import enqueue_event

    settings = Settings(redis_url=redis_url, log_level="ERROR")
    app = create_app(settings)
    with app.app_context():
        for envelope in items:
            if enqueue_event(envelope, settings) != "accepted":
                raise RuntimeError(f"bench event {envelope.idempotency_key} was not accepted")


# -- a round -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    events: int
    workers: int
    rate: float  # events/s from the processed_at of the rows
    seconds: float  # wall clock from starting the workers to stopping them (or the last event)
    rss_mb: float
    ok: bool


class Rounds:
    """Runs worker processes against one Redis backlog; each round reports what it processed."""

    def __init__(self, plan: Plan, report: Report, redis_url: str) -> None:
        self.plan, self.report, self.redis_url = plan, report, redis_url
        self.conn = redis.Redis.from_url(redis_url)
        self.counter = 0
        self.best_rate = 100.0  # events/s; sizes the backlog top-up, grows with what is observed

    def top_up(self, wanted: int) -> None:
        """Enough events waiting that the workers never run dry during a round."""
        missing = wanted - stream.depth(self.conn)
        if missing > 0:
            enqueue(self.redis_url, envelopes(missing, "bench", self.counter))
            self.counter += missing

    def timed(self, store: Store, workers: int, seconds: float, name: str) -> Result:
        """Workers drain the backlog for ``seconds`` after their first event, then stop."""
        self.top_up(int(max(500, 2 * self.best_rate * (seconds + 5))))
        return self._run(store, workers, name, lambda first_id, pids: _wait_timed(store, first_id, seconds, pids))

    def drain(self, store: Store, events: int, workers: int, name: str) -> Result:
        """A fresh backlog of exactly ``events``, drained to the last one."""
        self.conn.flushdb()
        self.top_up(events)
        return self._run(store, workers, name, lambda first_id, pids: _wait_done(store, first_id, events, pids), events)

    def _run(self, store: Store, workers: int, name: str, wait: Callable[..., bool], expected: int = 0) -> Result:
        first_id = store.max_id()
        facts_before = int(store.query("SELECT count(*) FROM ledger_facts")[0])
        env = service_env(self.redis_url, self.plan.workdir, DATABASE_URL=store.url)
        log = self.plan.workdir / "logs" / f"worker-{store.label}-{workers}.log"
        started = time.perf_counter()
        with Workers([sys.executable, "-m", "workers"], env, log, count=workers) as procs, PeakRss(procs.pids) as rss:
            finished = wait(first_id, procs.pids)
            seconds = time.perf_counter() - started
        count, first, last, distinct = store.query(
            "SELECT count(*), min(processed_at), max(processed_at), count(DISTINCT idempotency_key) FROM events "
            "WHERE id > %s AND status = 'processed'",
            first_id,
        )
        rows = int(store.query("SELECT count(*) FROM events WHERE id > %s", first_id)[0])
        facts = int(store.query("SELECT count(*) FROM ledger_facts")[0]) - facts_before
        first_at, last_at = _aware(first), _aware(last)
        span = (last_at - first_at).total_seconds() if first_at and last_at else float("nan")
        # A drained batch shares one processed_at, so the first batch's events took no measured time:
        # count only the events after it (with one job per event this was count - 1).
        at_first = store.query("SELECT count(*) FROM events WHERE id > %s AND processed_at = %s", first_id, first)[0]
        rate = (count - int(at_first)) / span if span and span > 0 else float("nan")
        if rate == rate:
            self.best_rate = max(self.best_rate, rate)
        # Every event taken off the queue is processed once: one row, one ledger fact, no duplicate.
        ok = finished and count == rows == distinct == facts and (not expected or count == expected)
        result = Result(count, workers, rate, seconds, rss.peak / 2**20, ok)
        self.report.detail(
            f"{name}: {workers} worker(s): {rate:6.0f} events/s over {count} events, {seconds:5.1f} s wall, "
            f"worker RSS {result.rss_mb:.0f} MB, ledger facts {facts}{'' if ok else '  <-- CHECK FAILED'}"
        )
        if not ok:
            self.report.notes.append(f"- {name}: {rows} rows, {count} processed, {distinct} distinct, {facts} facts.")
        return result


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _processed(store: Store, first_id: int) -> int:
    return int(store.query("SELECT count(*) FROM events WHERE id > %s AND status = 'processed'", first_id)[0])


def _wait_timed(store: Store, first_id: int, seconds: float, pids: Callable[[], list[int]]) -> bool:
    """Wait for the first processed event (start-up excluded), then ``seconds`` more."""
    deadline = time.monotonic() + 60
    while _processed(store, first_id) == 0:
        if time.monotonic() > deadline or not pids():
            return False
        time.sleep(0.1)
    time.sleep(seconds)
    return bool(pids())


def _wait_done(store: Store, first_id: int, events: int, pids: Callable[[], list[int]]) -> bool:
    """Until every event is processed; gives up after 60 s without progress or if workers die."""
    last, last_change = -1, time.monotonic()
    while True:
        done = _processed(store, first_id)
        if done >= events:
            return True
        if done != last:
            last, last_change = done, time.monotonic()
        if time.monotonic() - last_change > 60 or not pids():
            return False
        time.sleep(0.25)


# -- the measurements --------------------------------------------------------------------------


def postgres_base() -> str:
    import os

    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES)


def throughput(plan: Plan, report: Report) -> None:
    """(3) events/s with 1 and 2 workers on SQLite and PostgreSQL; the backlog drain; (5) RSS."""
    print("== (3) worker throughput end to end; (5) worker RSS")
    size = sizes(plan)
    with redis_server(plan.workdir / "redis-worker") as url:
        rounds = Rounds(plan, report, url)
        results: dict[tuple[str, int], Result] = {}
        stores = [sqlite_store(plan.workdir, "events"), postgres_store(postgres_base(), "bench_events")]
        for store in stores:
            store.reset()
            for workers in (1, 2):
                results[(store.label, workers)] = rounds.timed(store, workers, size.seconds, f"{store.label:10}")
        for (label, workers), result in results.items():
            target = workers == 2 and label == "PostgreSQL"
            one = results[(label, 1)].rate
            report.add(
                Row(
                    f"(3) worker throughput, {label}, {workers} worker process{'es' if workers > 1 else ''}",
                    f"{result.rate:,.0f} events/s",
                    f"{one:,.0f} events/s (1 worker)" if workers == 2 else "-",
                    f"{result.rate / one:.2f}×" if workers == 2 else "-",
                    f"≥ {TARGET_RATE:,.0f} events/s" if target else "(informational)",
                    result.rate >= TARGET_RATE if target else None,
                )
            )
        events = int(max(200, results[("PostgreSQL", 2)].rate * size.drain_seconds))
        backlog = rounds.drain(stores[1], events, 2, "backlog   ")
    startup = backlog.seconds - (backlog.events - 1) / backlog.rate
    estimate = startup + BACKLOG_GOAL / backlog.rate
    report.add(
        Row(
            f"(3) drain a {BACKLOG_GOAL:,}-event backlog, PostgreSQL, 2 workers",
            f"≈ {estimate:,.0f} s (extrapolated: {backlog.events:,} drained in {backlog.seconds:.0f} s)",
            "-",
            "-",
            f"< {TARGET_DRAIN_SECONDS:.0f} s",
            estimate < TARGET_DRAIN_SECONDS,
        )
    )
    peak = max(r.rss_mb for r in [*results.values(), backlog])
    report.add(
        Row(
            "(5) peak RSS of a worker process under load",
            f"{peak:.0f} MB",
            "-",
            "-",
            f"≤ {TARGET_WORKER_RSS_MB:.0f} MB",
            peak <= TARGET_WORKER_RSS_MB,
        )
    )


def growth(plan: Plan, report: Report) -> None:
    """(4a) the worker rate with a 1,000,000-event log against an empty one, alternating."""
    print("== (4a) growth: 1,000,000 events already in the log")
    size = sizes(plan)
    empty = postgres_store(postgres_base(), "bench_empty").reset()
    full = postgres_store(postgres_base(), "bench_full").reset()
    started = time.perf_counter()
    fill_postgres(full, size.growth_rows)
    elapsed = time.perf_counter() - started
    report.detail(f"bulk-inserted {size.growth_rows:,} events, ledger objects and facts in {elapsed:.0f} s")
    rates: dict[str, list[float]] = {"empty": [], "full": []}
    with redis_server(plan.workdir / "redis-growth") as url:
        rounds = Rounds(plan, report, url)
        for i in range(GROWTH_ROUNDS):
            for name, store in (("empty", empty), ("full", full)):
                rates[name].append(rounds.timed(store, 2, size.seconds, f"{name:5} log #{i + 1}").rate)
    empty_rate, full_rate = median(rates["empty"]), median(rates["full"])
    # Each full-log round against the empty-log round right before it, as the web's ratios are taken
    # (``paired``): the machine changes speed between rounds more than the log's size moves the rate.
    change, low, high = paired(rates["full"], rates["empty"], lambda full_, empty_: full_ / empty_ - 1)
    report.add(
        Row(
            f"(4a) worker rate with {size.growth_rows:,} events in the log, PostgreSQL, 2 workers",
            f"{full_rate:,.0f} events/s",
            f"{empty_rate:,.0f} events/s (empty log)",
            f"{change:+.1%} (paired rounds {low:+.1%} to {high:+.1%})",
            "within 10 %",
            change >= -TARGET_GROWTH,
        )
    )


def fill_postgres(store: Store, rows: int) -> None:
    """``rows`` processed events, each with its ledger object and fact, in three INSERT ... SELECTs.

    The schema was just reset, so both tables number their rows 1..rows and fact g joins
    event g to object g.
    """
    schema = store.url.rsplit("%3D", 1)[1]
    with psycopg.connect(_libpq(store.url.split("?")[0]), autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(
            """
            INSERT INTO events (provider, event_code, original_code, idempotency_key, status, occurred_at,
                                received_at, stored_at, processed_at, raw, content_type, payload, attempts, handlers)
            SELECT 'kobana', 'bank_billet.paid', 'bank_billet.paid', 'delivery:filler-' || g, 'processed',
                   now() - g * interval '1 second', now() - g * interval '1 second', now(), now(),
                   convert_to('{"event_code":"bank_billet.paid","object":{"id":' || g || '}}', 'UTF8'),
                   'application/json', jsonb_build_object('event_code', 'bank_billet.paid', 'object',
                   jsonb_build_object('id', g, 'amount', '349.90')), 1, '["handlers.ledger.keep_ledger"]'::jsonb
            FROM generate_series(1, %s) AS g
            """,
            (rows,),
        )
        conn.execute(
            """
            INSERT INTO ledger_objects (object_id, provider, kind, status, expected_cents, settled_cents,
                                        opened_at, last_event_at, state)
            SELECT 'kobana:filler-' || g, 'kobana', 'boleto', 'paid', 34990, 34990, now(), now(), '{}'::jsonb
            FROM generate_series(1, %s) AS g
            """,
            (rows,),
        )
        conn.execute(
            """
            INSERT INTO ledger_facts (object_pk, event_id, at, code, fact)
            SELECT g, g, now(), 'bank_billet.paid', '{}'::jsonb FROM generate_series(1, %s) AS g
            """,
            (rows,),
        )
        conn.execute("ANALYZE")


SECTIONS: dict[str, Callable[[Plan, Report], None]] = {"worker": throughput, "growth": growth}
