"""Fault scenarios with real processes: nothing acknowledged is lost, no effect happens twice.

Each scenario runs a private stack (tests/faults.py: redis-server with ``appendfsync always``, a
throwaway PostgreSQL cluster, gunicorn, ``python -m tests.fault_worker`` processes), sends distinct
signed events over HTTP from several threads, injects its fault, re-delivers what was not
acknowledged (as providers do), waits for the workers, and reports sent / acknowledged / processed /
lost / duplicated (tests/fault_report.py; figures in docs/reliability.md).
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Iterator

import pytest

from providers import PROVIDERS
from tests import fault_report
from tests.faults import PG_BIN, Delivery, PrivatePostgres, Provider, deliveries, stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PG_BIN is None, reason="needs PostgreSQL server binaries (initdb, pg_ctl)"),
]


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.close()


def _report(name: str, figures: dict, started: float, **extra: object) -> dict:
    figures = {**figures, "seconds": round(time.monotonic() - started, 1), **extra}
    fault_report.record(name, figures)
    return figures


def _assert_nothing_lost_or_doubled(figures: dict) -> None:
    assert figures["lost"] == 0, figures
    assert figures["duplicated"] == 0, figures
    assert figures["processed_without_effect"] == 0, figures
    assert figures["acknowledged"] == figures["events"], figures  # after the provider's retries


def _later(delay: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()))
    thread.start()
    return thread


def test_redis_crash_mid_traffic_loses_nothing_acknowledged(pg):
    """Redis SIGKILLed while requests arrive: each gets 2xx or its provider's retry status; every 2xx'd
    event is processed once."""
    started = time.monotonic()
    with stack(pg, "redis_crash", workers=1) as s:
        s.start_web()
        s.start_workers()
        batch = deliveries(150, "redis")
        provider = Provider(s.port)
        outage: list[threading.Thread] = []

        def restart() -> None:
            s.redis.start()  # same dir and port: the append-only file is replayed

        def during(i: int) -> None:
            if i == 50:
                s.redis.crash()
                outage.append(_later(1.5, restart))

        provider.send_all(batch, pace=0.02, during=during)
        outage[0].join()
        refused = [(d.path.split("/")[2], d.answers[0]) for d in batch if d.answers[0] != 200]
        provider.redeliver_failures(batch)
        s.wait_until_processed(batch, timeout=90)
        figures = _report(
            "redis crash (SIGKILL, 1.5 s)",
            s.figures(batch, provider.sent),
            started,
            refused=len(refused),
            worker_restarts=s.worker_starts - 1,
        )
    assert refused  # the outage really happened while requests arrived
    # Each refusal is a status its provider retries: 503, but 500 to Kobana (nothing else, no 2xx lost).
    assert all(status == PROVIDERS[name].UNAVAILABLE_STATUS for name, status in refused), figures["answers"]
    _assert_nothing_lost_or_doubled(figures)


def test_workers_sigkilled_repeatedly_under_load_process_everything_once(pg):
    """A worker SIGKILLed mid-job, about every half second: after recovery every event is processed exactly once."""
    started = time.monotonic()
    with stack(pg, "worker_kill", workers=2, handler_sleep=0.05) as s:
        s.start_web()
        s.start_workers()
        batch = deliveries(150, "kill")
        provider = Provider(s.port)
        provider.send_all(batch)
        kills = 0
        for _ in range(8):
            time.sleep(0.5)
            busy = s.busy_worker(after=s.handler_starts(), timeout=30)  # one that is inside a job right now
            if busy is None:
                break  # nothing left to run
            s.kill_worker(busy)
            kills += 1
        recovery = s.wait_until_processed(batch, timeout=150)
        rows = s.event_log()
        figures = _report(
            "worker SIGKILL x8 under load",
            s.figures(batch, provider.sent),
            started,
            kills=kills,
            retried_events=sum(1 for r in rows if r["attempts"] > 1),
            seconds_from_last_kill_to_all_processed=round(recovery, 1),
        )
    assert figures["handler_runs_cut_short"] > 0  # kills did land inside handlers
    _assert_nothing_lost_or_doubled(figures)


def test_database_stopped_while_workers_run_loses_and_marks_nothing_wrongly(pg):
    """PostgreSQL crashes for 3 s while events arrive and workers run: the events the crash hit wait in
    the inbox (no retry spent, issue 15) and are stored once it is back; nothing lost or doubled."""
    started = time.monotonic()
    with stack(pg, "db_stop", workers=2, handler_sleep=0.02) as s:
        s.start_web()
        s.start_workers()
        s.wait_for_workers()  # the crash must meet running workers, not their preflight
        batch = deliveries(150, "db")
        provider = Provider(s.port)
        traffic = threading.Thread(target=provider.send_all, args=(batch,), kwargs={"pace": 0.03})
        traffic.start()  # 4.5 s of traffic; the database is down for 3 s in the middle of it
        time.sleep(1)
        pg.stop("immediate")
        time.sleep(3)
        pg.start()
        traffic.join()
        s.wait_until_processed(batch, timeout=120)
        figures = _report(
            "database crash (3 s) mid-processing",
            s.figures(batch, provider.sent),
            started,
            worker_restarts=s.worker_starts - 2,
            failed_attempts_retried=s.log_count("worker", "exception raised while executing"),
            deferred_for_the_database=s.log_count("worker", "database_unavailable"),
            attempts_spent=sum(row["attempts"] - 1 for row in s.event_log()),
        )
    _assert_nothing_lost_or_doubled(figures)
    assert figures["deferred_for_the_database"] > 0, figures  # the crash did meet the workers
    # The handler never fails, so no event may have spent a retry: not on the outage, nor on the
    # backlog it leaves (a drain too big for JOB_TIMEOUT after the restart, jobs.Pace).
    assert figures["attempts_spent"] == 0, figures


def test_gunicorn_worker_killed_mid_request_never_acknowledges_a_lost_event(pg):
    """Web workers SIGKILLed during traffic: the provider sees a failure (and retries) or a 2xx for a stored event."""
    started = time.monotonic()
    with stack(pg, "web_kill", workers=2, web_workers=2) as s:
        s.start_web("tests.slow_web:app")  # 30 ms either side of the enqueue: kills land mid-request
        s.start_workers()
        batch = deliveries(150, "web")
        provider = Provider(s.port, threads=6)
        kills: list[bool] = []

        def during(i: int) -> None:
            if i and i % 15 == 0:
                kills.append(s.kill_web_worker())

        provider.send_all(batch, pace=0.03, during=during)
        failed = [d for d in batch if not d.acknowledged]
        provider.redeliver_failures(batch)
        s.wait_until_processed(batch, timeout=90)
        figures = _report(
            "gunicorn worker SIGKILL x9",
            s.figures(batch, provider.sent),
            started,
            kills=sum(kills),
            failed_then_retried=len(failed),
            # Killed after the enqueue, before the 2xx: the retry is answered "duplicate", processed once.
            failed_but_already_stored=sum(1 for d in failed if d.statuses[:1] == ["duplicate"]),
        )
    assert failed  # kills did land inside requests
    _assert_nothing_lost_or_doubled(figures)


def _snapshot(rows: list[dict]) -> list[tuple]:
    return sorted((r["provider"], r["idempotency_key"], r["event_code"], r["status"]) for r in rows)


def test_duplicates_and_shuffled_order_give_the_same_event_log_as_a_clean_run(pg):
    """10 % duplicates, shuffled, sent concurrently: the same final event log and effects as one ordered pass."""
    started = time.monotonic()
    events = deliveries(120, "order")
    with stack(pg, "clean_run", workers=2) as s:
        s.start_web()
        s.start_workers()
        Provider(s.port, threads=1).send_all(events)
        s.wait_until_processed(events, timeout=60)
        clean, clean_effects = _snapshot(s.event_log()), sum(s.effect_counts().values())
    shuffled = [dataclasses.replace(d, answers=[], statuses=[]) for d in events]
    shuffled += [
        dataclasses.replace(d, answers=[], statuses=[]) for d in random.Random(7).sample(events, len(events) // 10)
    ]
    random.Random(11).shuffle(shuffled)
    with stack(pg, "noisy_run", workers=2) as s:
        s.start_web()
        s.start_workers()
        provider = Provider(s.port, threads=6)
        provider.send_all(shuffled)
        s.wait_until_processed(shuffled, timeout=60)
        noisy = _snapshot(s.event_log())
        figures = _report(
            "10% duplicates, shuffled",
            s.figures(_unique(shuffled), provider.sent),
            started,
            duplicates_sent=len(shuffled) - len(events),
            same_event_log_as_clean_run=noisy == clean,
        )
        noisy_effects = sum(s.effect_counts().values())
    assert noisy == clean
    assert noisy_effects == clean_effects == len(events)
    _assert_nothing_lost_or_doubled(figures)


def _unique(batch: list[Delivery]) -> list[Delivery]:
    """One delivery per event (acknowledged if any copy was), for the figures."""
    by_number: dict[int, Delivery] = {}
    for delivery in batch:
        kept = by_number.setdefault(delivery.number, dataclasses.replace(delivery, answers=[], statuses=[]))
        kept.answers.extend(delivery.answers)
        kept.event_id = kept.event_id or delivery.event_id
    return list(by_number.values())
