"""(report) The reconciliation report of one month as the ledger grows, against reading every object.

``flask reconcile report`` and the console's CSV and XLSX compute the whole report: totals,
discrepancies with their notes and events, credits per day. They used to fold every object of the
ledger for any period; now they read what the period can depend on
(``ledger.discrepancies.period_states``). Measured here side by side on PostgreSQL: generated
months of all three providers go through the real door-to-ledger path (envelopes appended to the
inbox, drained by ``workers.jobs.drain_inbox``), then the report of the first month is timed with
a ledger of one month and of all of them, against the former computation (``refresh`` and
``build_report`` over ``store.states``), alternating, in sessions rolled back after each round.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.ack import Plan, service_env
from bench.procs import redis_server
from bench.report import Report, Row
from bench.worker import enqueue, postgres_base, postgres_store

ROUNDS = 5


def report_section(plan: Plan, report: Report) -> None:
    print("== (report) the month's reconciliation report as the ledger grows")
    months = 3 if plan.seconds < 3 else 12  # --quick: a smoke run
    store = postgres_store(postgres_base(), "bench_report").reset()
    first = date(2025, 1, 1)
    environ = dict(os.environ)  # put back after: this section configures the worker in this process
    with redis_server(plan.workdir / "redis-report") as url:
        os.environ.update(service_env(url, plan.workdir), DATABASE_URL=store.url, DRAIN_LINGER_MS="0",
                          PROMETHEUS_MULTIPROC_DIR=str(plan.workdir))  # fmt: skip
        (plan.workdir / "var").mkdir(exist_ok=True)
        from config import Settings
        from workers import jobs

        settings = Settings.from_env(os.environ)
        jobs.configure(settings)
        try:
            sessions = jobs.runtime().sessions
            last_day = _load_month(url, first.year, first.month, first_id=1000)
            figures = {1: _timed(sessions, first, last_day)}
            for loaded in range(2, months + 1):
                _load_month(url, first.year + (loaded - 1) // 12, (loaded - 1) % 12 + 1, first_id=1000 * loaded)
            figures[months] = _timed(sessions, first, last_day)
        finally:
            jobs.runtime().engine.dispose()
            os.environ.clear()
            os.environ.update(environ)
    for loaded, (ours, everything, objects) in figures.items():
        report.detail(f"report of {first:%Y-%m} with {loaded} month(s) in the ledger ({objects:,} objects): "
                      f"ours {ours * 1000:.0f} ms, every object {everything * 1000:.0f} ms")  # fmt: skip
    ours, everything, objects = figures[months]
    growth = ours / figures[1][0] - 1
    report.add(
        Row(
            f"(report) one month's reconciliation report (console export), {months}-month ledger, {objects:,} objects",
            f"{ours * 1000:,.0f} ms ({growth:+.0%} against a ledger of 1 month)",
            f"{everything * 1000:,.0f} ms (every object, as before)",
            f"{everything / ours:.1f}x faster",
            "(informational)",
            None,
        )
    )


def _load_month(redis_url: str, year: int, month: int, first_id: int) -> date:
    """A generated month through the inbox and ``drain_inbox``, as the workers store it; its last day."""
    import providers
    from ledger.traffic import generate
    from workers import jobs

    generated = generate(year, month, seed=month, first_id=first_id)
    envelopes = []
    for d in generated.traffic(seed=month, duplicates=0):
        module = providers.PROVIDERS[d.provider]
        headers = {"X-Kobana-Delivery-Id": d.delivery_id} if d.delivery_id else {}
        envelopes.append(providers.receive(module, headers, d.body, content_type="application/json",
                                           entity=d.entity, received_at=datetime.now(UTC)))  # fmt: skip
    enqueue(redis_url, envelopes)
    while jobs.drain_inbox()["taken"]:
        pass
    return generated.end.date() - timedelta(days=1)


def _timed(sessions: Any, start: date, end: date) -> tuple[float, float, int]:
    """Median seconds of the report (ours), of the former computation, and the objects kept."""
    from ledger import discrepancies, store
    from ledger.reconcile import build_report

    def ours(session: Any) -> object:
        return discrepancies.report(session, start, end)

    def every_object(session: Any) -> object:  # the former ``discrepancies.report``, step for step
        states = store.states(session)
        discrepancies.refresh(session, states)
        built = build_report(states, start, end)
        return discrepancies._statuses(session, built.discrepancies)

    def once(compute: Callable[[Any], object]) -> float:
        with sessions() as session:  # rolled back: each round finds the same rows
            began = time.perf_counter()
            compute(session)
            return time.perf_counter() - began

    times: dict[str, list[float]] = {"ours": [], "every": []}
    for _ in range(ROUNDS):
        times["ours"].append(once(ours))
        times["every"].append(once(every_object))
    with sessions() as session:
        objects = len(store.states(session))
    return statistics.median(times["ours"]), statistics.median(times["every"]), objects
