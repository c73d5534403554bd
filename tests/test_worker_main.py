"""``python -m workers`` settings: worker class, abandoned-job timing, and their validation."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.worker import HerokuWorker

from config import ConfigError, Settings
from workers.__main__ import EventWorker, build_worker


def test_the_default_worker_does_not_fork_and_runs_maintenance_often(settings, redis_conn):
    """SimpleWorker by default, with maintenance every 15 s instead of RQ's 600 s."""
    worker = build_worker(settings, redis_conn)
    assert isinstance(worker, EventWorker)
    assert (worker.maintenance_interval, worker.worker_ttl) == (15, 30)


def test_worker_class_forking_gives_herokus_worker(settings, redis_conn):
    """``WORKER_CLASS=forking`` gives HerokuWorker (SIGTERM: 6 s, then the job's retry)."""
    assert isinstance(build_worker(settings.replace(worker_class="forking"), redis_conn), HerokuWorker)


def test_a_started_job_is_abandoned_soon_after_its_timeout(settings, redis_conn):
    """The started-job mark lasts the job timeout plus a margin, not RQ's timeout + 60 s."""
    worker = build_worker(settings, redis_conn)
    job = Queue("events", connection=redis_conn, serializer="json").enqueue(
        "workers.jobs.process_event", {}, job_timeout=30
    )
    assert worker.get_heartbeat_ttl(job) == 45


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"WORKER_CLASS": "threads"}, "WORKER_CLASS"),
        ({"WORKER_TTL": "5"}, "WORKER_TTL"),
        ({"JOB_TIMEOUT": "0"}, "JOB_TIMEOUT"),
        ({"WORKER_MAINTENANCE_INTERVAL": "soon"}, "WORKER_MAINTENANCE_INTERVAL"),
        ({"JOB_TIMEOUT": "3", "DRAIN_LINGER_MS": "1000"}, "DRAIN_LINGER_MS"),
    ],
    ids=["class", "ttl-too-short", "timeout-zero", "interval-not-int", "linger-past-the-drains-time"],
)
def test_bad_worker_settings_name_their_variable(env, variable):
    """A bad worker setting stops start-up with a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_the_web_process_never_imports_handlers():
    """Importing the app (web and ``flask events``) loads no handler module: they run only in workers and replay."""
    import subprocess
    import sys

    from config import PROJECT_ROOT

    code = "import sys, app; print(sorted(m for m in sys.modules if m.split('.')[0] == 'handlers'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_stop_request_tells_the_running_drain_to_stop_lingering(settings, redis_conn):
    """SIGTERM (a deploy, a scale-down) reaches the drain through ``jobs.wind_down``: the worker's
    warm shutdown waits for its job, and a lingering drain would otherwise hold it up."""
    import signal

    from rq.exceptions import StopRequested

    from workers import jobs

    jobs.configure(settings)
    worker = build_worker(settings, redis_conn)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(StopRequested):  # idle: RQ stops at once; busy, it would wait for the job
            worker.request_stop(signal.SIGTERM, None)
        assert jobs._winding_down.is_set()
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
        jobs.configure(settings)  # a new runtime starts not winding down
        assert not jobs._winding_down.is_set()
        jobs._runtime.engine.dispose()  # type: ignore[union-attr]
        jobs._runtime = None
