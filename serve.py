"""``python serve.py``: the whole service on one laptop, web + worker, nothing to install.

Starts the embedded Redis when ``REDIS_URL`` is unset, applies the migrations, then runs
gunicorn and the worker, and on Ctrl-C or SIGTERM stops everything it started: the worker and
gunicorn first (they finish what they hold), then the embedded Redis, if this run started it.
With no provider credentials set at all, it uses loudly announced development credentials so
the README's curl lines work out of the box; a credential set to an empty value is refused like
everywhere else (an empty HMAC secret makes forgeries easy). ``wsgi.py`` never does either.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from config import ConfigError, Settings, dev_credentials
from ops import embedded_redis, metric_files, preflight

#: Run once before web and worker: the database migrations (idempotent).
SETUP_STEPS: list[list[str]] = [[sys.executable, "-m", "db", "upgrade"]]
PROGRAM = "serve"


def _arguments(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python serve.py",
        description="Run the whole service on this machine: web (gunicorn, $PORT) and worker, with the "
        "embedded Redis and SQLite when REDIS_URL / DATABASE_URL are unset. Ctrl-C or SIGTERM stops "
        "everything it started.",
    )
    parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    _arguments(argv or [])  # other modules call main() with their own sys.argv: not ours to read
    dev = dev_credentials(os.environ)
    env = {**os.environ, **dev}
    try:
        settings = Settings.from_env(env)
        preflight.check_redis(settings)
        preflight.check_database(settings, migrated=False)
    except (ConfigError, preflight.StartupError) as exc:
        preflight.fail(PROGRAM, exc)
    if dev:
        print("serve: no provider credentials set; using development ones:", file=sys.stderr)
        for name, value in dev.items():
            print(f"  {name}={value}", file=sys.stderr)
    stop = _Stop()
    try:
        if not settings.secret_key:
            env["SECRET_KEY"] = dev_secret_key(settings.var_dir)
        if not settings.redis_url:
            env["REDIS_URL"] = embedded_redis.ensure_running(settings.var_dir)
            print(f"serve: embedded Redis at {env['REDIS_URL']}", file=sys.stderr)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir(env, settings))
        for step in SETUP_STEPS:
            if subprocess.run(step, env=env, check=False).returncode != 0:  # noqa: S603 - fixed argv
                return preflight.EXIT_CODE  # the step printed its one line
        if not env.get("DATABASE_URL") and "DYNO" not in env:  # a laptop: no production settings
            subprocess.run([sys.executable, "-c", "import serve; serve.dev_admin()"], env=env, check=True)
        print(f"serve: finance console at http://127.0.0.1:{settings.port}/console/", file=sys.stderr)
        return _run(env, stop)
    finally:
        embedded_redis.stop_started()


class _Stop:
    """SIGTERM and SIGINT (Ctrl-C) both mean: stop what we started, in order, then exit."""

    def __init__(self) -> None:
        self.requested = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request)

    def _request(self, signum: int, _frame: object) -> None:
        self.requested = True


def _run(env: dict[str, str], stop: _Stop) -> int:
    children = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env=env),
        subprocess.Popen([sys.executable, "-m", "workers"], env=env),
    ]
    try:
        while not stop.requested and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=25)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    if stop.requested:
        return 0
    return max((child.returncode or 0) for child in children)  # a child that died on its own


def _metrics_dir(env: Mapping[str, str], settings: Settings) -> Path:
    """Web and worker write their metrics to one directory, so the web's /metrics shows both.

    Only files of processes that are gone are removed: a second ``serve.py`` on the same
    directory must not delete the counters of the one that runs.
    """
    metrics_dir = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or settings.var_dir / "metrics")
    metrics_dir.mkdir(parents=True, exist_ok=True)
    metric_files.remove_dead(metrics_dir)
    return metrics_dir


def dev_secret_key(var_dir: Path) -> str:
    """The laptop's SECRET_KEY: generated once under ``var/``, so console sessions survive restarts."""
    import secrets

    path = Path(var_dir) / "dev-secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def dev_admin() -> None:
    """On a laptop with no console user yet: create ``admin@localhost`` and print its password once."""
    import secrets
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    import db
    from web.console.models import ADMIN, User
    from web.console.passwords import hash_password

    settings = Settings.from_env(os.environ)
    engine = db.engine_from(settings)
    try:
        with db.session_factory(engine).begin() as session:
            if session.scalar(select(func.count()).select_from(User)):
                return
            password = secrets.token_urlsafe(12)
            now = datetime.now(UTC)
            session.add(User(email="admin@localhost", role=ADMIN, password_hash=hash_password(password), active=True,
                             created_at=now, password_changed_at=now))  # fmt: skip
        print("serve: created the development console admin (shown once; flask users set-password to change):",
              file=sys.stderr)  # fmt: skip
        print(f"  e-mail: admin@localhost  password: {password}", file=sys.stderr)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
