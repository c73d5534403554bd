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

from config import ConfigError, Settings
from ops import embedded_redis

DEV_CREDENTIALS = {
    "KOBANA_WEBHOOK_SECRET": "dev-kobana-secret",
    "TRANSFEERA_WEBHOOK_SECRET": "dev-transfeera-secret",
    "CELCOIN_WEBHOOK_USERNAME": "dev-celcoin",
    "CELCOIN_WEBHOOK_PASSWORD": "dev-celcoin-password",
}
#: Run once before web and worker: the database migrations (idempotent).
SETUP_STEPS: list[list[str]] = [[sys.executable, "-m", "db", "upgrade"]]


def main() -> int:
    env = dict(os.environ)
    if not any(env.get(name) for name in DEV_CREDENTIALS):
        env.update(DEV_CREDENTIALS)
        print("serve: no provider credentials set; using development ones:", file=sys.stderr)
        for name, value in DEV_CREDENTIALS.items():
            print(f"  {name}={value}", file=sys.stderr)
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        print(f"serve: configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.secret_key:
        env["SECRET_KEY"] = dev_secret_key(settings.var_dir)
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
    if not env.get("DATABASE_URL") and "DYNO" not in env:
        subprocess.run([sys.executable, "-c", "import serve; serve.dev_admin()"], env=env, check=True)  # noqa: S603
    print(f"serve: finance console at http://127.0.0.1:{settings.port}/console/", file=sys.stderr)
    children = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env=env),  # noqa: S603
        subprocess.Popen([sys.executable, "-m", "workers"], env=env),  # noqa: S603
    ]
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
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
    sys.exit(main())
