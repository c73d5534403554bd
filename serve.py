"""``python serve.py``: the whole service on one laptop, web + worker, nothing to install.

Starts the embedded Redis when ``REDIS_URL`` is unset, then gunicorn and the worker, and stops
everything on Ctrl-C. With no provider credentials at all, it uses loudly announced
development credentials so the README's curl lines work out of the box; ``wsgi.py`` never does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from config import ConfigError, Settings, dev_credentials
from ops import embedded_redis

#: Run once before web and worker: the database migrations (idempotent).
SETUP_STEPS: list[list[str]] = [[sys.executable, "-m", "db", "upgrade"]]


def main() -> int:
    env = dict(os.environ)
    dev = dev_credentials(env)
    if dev:
        env.update(dev)
        print("serve: no provider credentials set; using development ones:", file=sys.stderr)
        for name, value in dev.items():
            print(f"  {name}={value}", file=sys.stderr)
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        print(f"serve: configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.redis_url:
        env["REDIS_URL"] = embedded_redis.ensure_running(settings.var_dir)
        print(f"serve: embedded Redis at {env['REDIS_URL']}", file=sys.stderr)
    # Web and worker write their metrics to one directory, so the web's /metrics shows both.
    metrics_dir = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or settings.var_dir / "metrics")
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):  # counters of an earlier run
        stale.unlink()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    for step in SETUP_STEPS:
        subprocess.run(step, env=env, check=True)  # noqa: S603 - fixed argv
    children = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env=env),
        subprocess.Popen([sys.executable, "-m", "workers"], env=env),
    ]
    signal.signal(signal.SIGTERM, _stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=25)
        except subprocess.TimeoutExpired:
            child.kill()
    return max((child.returncode or 0) for child in children)


def _stop(signum: int, frame: object) -> None:
    """SIGTERM stops the service as Ctrl-C does: the main loop's ``except KeyboardInterrupt``."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
