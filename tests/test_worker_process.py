"""The real worker process: SIGKILLed mid-job, restarted, the event is processed exactly once."""

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


def _start_worker(redis_url: str, database_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "JOB_TIMEOUT": "2",  # → abandoned 3 s after start
        "WORKER_MAINTENANCE_INTERVAL": "1",
        "WORKER_TTL": "16",  # → wakes every second to do maintenance
        "LOG_FORMAT": "json",
        "BLOCK_FILE": str(tmp_path / "block"),
        "STARTED_FILE": str(tmp_path / "started"),
        "VAR_DIR": str(tmp_path / "var"),
    }
    with (tmp_path / "worker.log").open("ab") as log:
        # Own session: the kill takes the worker and its scheduler child, as a platform would.
        return subprocess.Popen(
            [sys.executable, "-m", "tests.kill_support"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
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
    first = _start_worker(redis_url, database_url, tmp_path)
    try:
        _wait_for((tmp_path / "started").exists, 20, "the handler to start")
        (tmp_path / "block").unlink()
        _stop(first)  # SIGKILL, mid-transaction
    finally:
        _stop(first)
    second = _start_worker(redis_url, database_url, tmp_path)
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
