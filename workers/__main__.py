"""``python -m workers``: the RQ worker with the same settings, logging and Redis as the web.

Listens to the one events queue with the JSON serializer (no pickle from Redis). Its jobs are
drains of the inbox stream (workers/stream.py) and the one-event jobs a failed batch becomes.
``SimpleWorker`` by default: no fork per job, so one engine and its pooled connections serve
every job (measured ~4x the throughput of the forking worker here; README "Worker").

A worker SIGKILLed mid-job leaves its job "started" in RQ. RQ re-queues it (as a retry) once
the job's heartbeat expires and some worker runs maintenance; by default that takes ~14
minutes. Here the heartbeat is the job timeout + 15 s and maintenance runs every
``WORKER_MAINTENANCE_INTERVAL`` seconds, so with the defaults (30 s, 15 s, TTL 30 s) such an
event is re-run within about 75 s plus its first retry interval, and once (the inbox's key).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from typing import Any

import redis
import structlog
from rq import SimpleWorker
from rq.job import Job
from rq.worker import HerokuWorker

from config import ConfigError, Settings
from ops import metrics, preflight, sentry
from ops.logconfig import configure_logging
from workers import jobs, stream, sync
from workers.alerts import runner as alerts
from workers.queue import connect, drain_if_waiting, queues

log = structlog.get_logger(__name__)

#: Margin over the job timeout before a started job counts as abandoned (RQ's own is 60 s).
#: SimpleWorker does not heartbeat during a job: the job timeout (SIGALRM) is what bounds it.
#: Even a job that outlives it stays single-effect: a re-run waits on the event's row lock.
HEARTBEAT_MARGIN = 15


class InboxMaintenance:
    """Every maintenance interval, drain the inbox if events wait, no job is queued and no live
    drain holds the doorbell: the safety net under a lost doorbell, a drain that died, or a failed
    batch's pending entries.
    Also starts the automatic provider sync when it is due (workers/sync.py)."""

    settings: Settings | None = None

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[misc]
        if self.settings is None:
            return
        try:
            drain_if_waiting(self.connection, self.settings, unless_draining=True)  # type: ignore[attr-defined]
            stream.forget_idle_consumers(self.connection)  # type: ignore[attr-defined]
        except redis.RedisError as exc:
            log.warning("drain.maintenance_failed", error=type(exc).__name__)
        try:
            # Provider sync runs in a thread of its own: jobs never wait on a provider's API.
            sync.maybe_start(self.connection, self.settings)  # type: ignore[attr-defined]
        except redis.RedisError as exc:
            log.warning("provider.sync_not_started", error=type(exc).__name__)


class EventWorker(InboxMaintenance, SimpleWorker):
    """SimpleWorker whose started jobs are declared abandoned soon after their timeout."""

    def request_stop(self, signum: Any, frame: Any) -> None:
        jobs.wind_down()  # the drain running in this process stops lingering: the stop is not held up
        super().request_stop(signum, frame)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        timeout = int(job.timeout) if job.timeout and job.timeout > 0 else 180
        return timeout + min(HEARTBEAT_MARGIN, max(1, timeout // 2))


class ForkingEventWorker(InboxMaintenance, HerokuWorker):
    """Fork per job; SIGTERM gives the job 6 s, then ShutDownImminentException → its retry."""


def build_worker(settings: Settings, connection: Any) -> SimpleWorker | HerokuWorker:
    worker_class = EventWorker if settings.worker_class == "simple" else ForkingEventWorker
    worker = worker_class(
        list(queues(connection)),
        connection=connection,
        serializer="json",
        worker_ttl=settings.worker_ttl,
        maintenance_interval=settings.worker_maintenance_interval,
        job_monitoring_interval=min(10, settings.job_timeout),
    )
    worker.settings = settings
    return worker


class QuietMaintenance(logging.Filter):
    """RQ logs "cleaning registries" and "cleaning group registries" at INFO on every maintenance
    (every 15 s here, idle or not): kept only when ``LOG_LEVEL=DEBUG``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "cleaning" in record.msg and "registries" in record.msg:
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _arguments(argv: list[str]) -> None:
    argparse.ArgumentParser(
        prog="python -m workers",
        description="Run one RQ worker for the events queue (drains the inbox stream into the database "
        "and runs the handlers). Configured by the environment, as the web is: README, Configuration.",
    ).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    _arguments(argv or [])  # other modules call main() with their own sys.argv: not ours to read
    try:
        settings = Settings.from_env(os.environ)
        preflight.check_redis(settings)
        preflight.check_database(settings, migrated=True)
    except (ConfigError, preflight.StartupError) as exc:
        preflight.fail("python -m workers", exc)
    configure_logging(settings)
    logging.getLogger("rq.worker").addFilter(QuietMaintenance())
    if settings.worker_class == "simple":
        jobs.configure(settings)  # one engine for every job; a forking worker builds it per horse
    sentry.init(settings, "worker")
    connection = connect(settings, socket_timeout=None)  # a worker blocks on dequeue
    if settings.worker_metrics_port:
        metrics.serve_on_port(settings.worker_metrics_port, connect(settings))
    worker = build_worker(settings, connection)
    stream.ensure_group(connection)
    drain_if_waiting(connection, settings)  # what arrived while no worker ran
    alerts.start(settings, lambda: connect(settings))  # checks and digest beside the job loop (docs/alerts.md)
    # Imports and the engine live as long as the process: out of every full collection's walk
    # (gunicorn.conf.py's post_worker_init does the same for the web).
    gc.collect()
    gc.freeze()
    worker.work(with_scheduler=True, logging_level=settings.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
