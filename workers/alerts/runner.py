"""Where alerts run: a thread in every worker process, beside RQ's job loop, never in it.

Each ``tick`` runs the checks (``lifecycle.check``, which one worker at a time does once per
ALERT_CHECK_INTERVAL) and then sends what the outbox holds. It runs in its own daemon thread
with its own engine and Redis client, so a slow SMTP server or a long digest never delays an
event's drain job, and the job's SIGALRM timeout never interrupts a send. No extra dyno.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import structlog
from sqlalchemy.orm import Session, sessionmaker

import db
from config import Settings
from workers.alerts import lifecycle, outbox

log = structlog.get_logger(__name__)


@dataclass
class Tick:
    check: lifecycle.Outcome
    delivered: outbox.Round


def tick(sessions: sessionmaker[Session], settings: Settings, connection: redis.Redis, now: datetime) -> Tick:
    """One round: the checks (unless another worker just ran them), then the outbox."""
    now = now.astimezone(UTC)
    checked = lifecycle.check(sessions, settings, connection, now)
    return Tick(checked, outbox.deliver_due(sessions, settings, now))


class AlertLoop(threading.Thread):
    """Ticks every ALERT_CHECK_INTERVAL seconds until ``stop()``; an error is logged, never fatal."""

    def __init__(self, settings: Settings, connect: Callable[[], redis.Redis]) -> None:
        super().__init__(name="alerts", daemon=True)
        self.settings = settings
        self._connect = connect
        self._stopping = threading.Event()

    def run(self) -> None:
        small_pool = {"pool_size": 1, "max_overflow": 1} if _pooled(self.settings) else {}
        engine = db.engine_from(self.settings, **small_pool)
        sessions = db.session_factory(engine)
        connection = self._connect()
        try:
            while not self._stopping.is_set():
                try:
                    tick(sessions, self.settings, connection, datetime.now(UTC))
                except Exception as exc:  # a loop, not a job: log and try again next interval
                    log.warning("alert.tick_failed", error=f"{type(exc).__name__}: {exc}")
                self._stopping.wait(self.settings.alert_check_interval)
        finally:
            engine.dispose()

    def stop(self) -> None:
        self._stopping.set()


def _pooled(settings: Settings) -> bool:
    return not db.database_url(settings).startswith("sqlite")


def start(settings: Settings, connect: Callable[[], redis.Redis]) -> AlertLoop:
    loop = AlertLoop(settings, connect)
    loop.start()
    return loop
