"""The real worker process: SIGKILLed mid-job, restarted, the event is processed exactly once; told
to stop (SIGTERM) mid-backlog, it stops after the batch in hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import db
from app import create_app
from config import PROJECT_ROOT
from db.models import EventRecord
from tests.helpers import Deliver, sample
from workers import stream


def _start_worker(
    module: str, redis_url: str, database_url: str, tmp_path: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """``python -m <module>`` (the real worker, or one with a test's handler) with ``settings`` on
    top of the stores' URLs, logging into ``worker.log``."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
        "VAR_DIR": str(tmp_path / "var"),
        **settings,
    }
    with (tmp_path / "worker.log").open("ab") as log:
        # Own session: a signal to the group takes the worker and its scheduler child, as a platform's would.
        return subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def _start_blocking_worker(redis_url: str, database_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    """The worker of ``tests.kill_support``, whose handler hangs while ``block`` exists."""
    return _start_worker(
        "tests.kill_support",
        redis_url,
        database_url,
        tmp_path,
        JOB_TIMEOUT="2",  # → abandoned 3 s after start
        WORKER_MAINTENANCE_INTERVAL="1",
        WORKER_TTL="16",  # → wakes every second to do maintenance
        BLOCK_FILE=str(tmp_path / "block"),
        STARTED_FILE=str(tmp_path / "started"),
    )


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=10)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_restarted_and_the_event_processed_once(
    settings, redis_url, database_url, engine, effects, tmp_path
):
    """SIGKILL mid-handler, restart: RQ re-runs the abandoned job and the effect happens once."""
    app = create_app(settings.replace(job_retry_max=2, job_retry_intervals=(0,), job_timeout=2))
    (tmp_path / "block").touch()
    assert Deliver(app.test_client()).kobana(sample("kobana", "bank_billet.paid.json")).status_code == 200
    first = _start_blocking_worker(redis_url, database_url, tmp_path)
    try:
        _wait_for((tmp_path / "started").exists, 20, "the handler to start")
        (tmp_path / "block").unlink()
        _stop(first)  # SIGKILL, mid-transaction
    finally:
        _stop(first)
    second = _start_blocking_worker(redis_url, database_url, tmp_path)
    sessions = db.session_factory(engine)

    def processed() -> bool:
        with sessions() as session:
            return session.scalar(sa.select(EventRecord.status)) == "processed"

    try:
        _wait_for(processed, 30, "the restarted worker to process the abandoned job")
    finally:
        _stop(second, signal.SIGTERM)
        _stop(second)
    assert len(effects()) == 1
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(EventRecord)) == 1


#: Enough waiting events that a drain running on would still be reading when its worker is told to
#: stop (batches of at most ``DRAIN_BATCH``, 200).
BACKLOG = 1500


@pytest.mark.slow
def test_a_worker_told_to_stop_mid_backlog_ends_its_drain_after_the_batch_and_exits(
    settings, redis_url, database_url, engine, redis_conn, tmp_path
):
    """SIGTERM, as a platform sends it to the worker's processes for a deploy or a scale-down, while
    a drain has a long backlog ahead: the drain ends after the batch in hand and the worker exits 0
    well inside the platform's 30 s; every event it stored is processed and the rest wait in the
    stream for the next worker. Without the drain winding down it would read on to the last event."""
    deliver = Deliver(create_app(settings).test_client())
    raw = sample("kobana", "bank_billet.paid.json")
    for i in range(BACKLOG):
        assert deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": f"stop-{i}"}).status_code == 200
    # A drain may read on for a third of JOB_TIMEOUT, 20 s: only the stop ends it sooner.
    worker = _start_worker("workers", redis_url, database_url, tmp_path, JOB_TIMEOUT="60")
    sessions = db.session_factory(engine)

    def stored() -> tuple[int, int]:
        with sessions() as session:
            statuses = session.scalars(sa.select(EventRecord.status)).all()
        return len(statuses), statuses.count("processed")

    try:
        _wait_for(lambda: stored()[1] > 0, 30, "the worker to process its first batch")
        os.killpg(worker.pid, signal.SIGTERM)
        exit_code = worker.wait(timeout=15)
    finally:
        _stop(worker)
    rows, processed = stored()
    assert exit_code == 0
    assert rows == processed
    waiting = stream.depth(redis_conn)
    assert waiting > 0, "the drain read the whole backlog instead of stopping"
    assert rows + waiting == BACKLOG
