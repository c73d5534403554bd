"""``python -m workers``: the RQ worker with the same settings, logging and Redis as the web.

Listens to the events and quarantine queues with the JSON serializer (no pickle from Redis).
"""

from __future__ import annotations

import os
import sys

from rq import SimpleWorker
from rq.worker import HerokuWorker

from config import ConfigError, Settings
from logconfig import configure_logging
from workers.queue import connect, queues


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    connection = connect(settings, socket_timeout=None)  # a worker blocks on dequeue
    worker_class = SimpleWorker if os.environ.get("WORKER_CLASS", "simple") == "simple" else HerokuWorker
    worker = worker_class(list(queues(connection)), connection=connection, serializer="json")
    worker.work(with_scheduler=True, logging_level=settings.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
