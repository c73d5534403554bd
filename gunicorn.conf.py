"""gunicorn settings, from the validated Settings (Heroku-like platforms set PORT and WEB_CONCURRENCY).

Also prepares prometheus-client's multiprocess mode, which must be in the environment before
any process imports prometheus_client: a fresh ``PROMETHEUS_MULTIPROC_DIR`` when none is given,
stale files of processes from an earlier run removed when one is, and dead workers marked.
"""

import os
import shutil
import tempfile
from pathlib import Path

from config import ConfigError, Settings
from ops import metric_files, preflight

try:  # one line naming the variable, exit code 2, before gunicorn forks anything
    _settings = Settings.from_env(os.environ)
    preflight.check_redis(_settings)
    _settings.require_secret_key()  # the console signs its sessions with it
except (ConfigError, preflight.StartupError) as exc:
    preflight.fail("gunicorn", exc)

_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="webhook-receiver-metrics-")

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
threads = _settings.web_threads
# gthread, except that a connection which has sent nothing never holds a serving thread (the
# module says why: gunicorn stalled every delivery for 5 s behind a few silent connections).
worker_class = "ops.gunicorn_worker.ThreadWorker"
# Providers wait 5 s (Kobana, Celcoin); an ack takes milliseconds and Redis calls time out at 2 s,
# so a worker silent for WEB_TIMEOUT (10 s) is stuck and is replaced.
timeout = _settings.web_timeout
# Finish in-flight acks on SIGTERM well inside the platform's 30 s before SIGKILL.
graceful_timeout = 20
keepalive = 5
# No max_requests: recycling workers would leave their metric files behind (client_python #275).
max_requests = 0
preload_app = False
# No control socket. gunicorn 25.1+ opens one by default (``gunicornc``: change the worker count,
# reload, shut down), at a path shared by every gunicorn of the user ($XDG_RUNTIME_DIR or
# ~/.gunicorn/gunicorn.ctl), so a second instance on the machine takes it over. Nothing here uses it;
# the platform scales and restarts the process.
control_socket_disable = True
logger_class = "ops.gunicorn_logging.StructlogLogger"
accesslog = "-"  # enables gunicorn's access hook; StructlogLogger writes it as a structlog line
errorlog = "-"
loglevel = _settings.log_level.lower()


def on_starting(server):
    """Drop metric files left by processes of an earlier run (a given, reused directory)."""
    metric_files.remove_dead(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))


def when_ready(server):
    from app import announce_providers
    from ops.logconfig import configure_logging

    configure_logging(_settings)
    announce_providers(_settings)
    if _settings.metrics_port:
        from ops import metrics
        from workers.queue import connect

        metrics.serve_on_port(_settings.metrics_port, connect(_settings))
        server.log.info("metrics on internal port %s", _settings.metrics_port)


def post_worker_init(worker):
    """Move what loading the app created (~90,000 objects) out of the garbage collector's sight.

    They live as long as the worker, yet every full collection walks them all: one took 92 ms
    in-process on the shared 2-core machine (0.5 ms with them frozen), one every few thousand
    requests, a stall for every request queued behind it. ``gc.freeze`` (the gc module's documentation) leaves them
    out; a request's own garbage is collected as before.
    """
    import gc

    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
