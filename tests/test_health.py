"""/healthz and /readyz: liveness touches nothing; readiness names the dependency that is wrong."""

from __future__ import annotations

from app import create_app
from tests.helpers import sample
from tests.servers import free_port, redis_server


def test_healthz_answers_even_with_redis_and_database_unreachable(settings):
    """Liveness never touches a dependency, so an outage does not get the web restarted."""
    closed = free_port()
    app = create_app(
        settings.replace(
            redis_url=f"redis://127.0.0.1:{closed}/0",
            database_url=f"postgresql+psycopg://postgres@127.0.0.1:{closed}/nothing",
        )
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_200_when_redis_database_migrations_and_backlog_are_fine(client):
    """The test setup is a ready service: every check passes and says so."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["failing"] == []
    assert set(response.json["checks"]) == {"redis", "database", "migrations", "queue"}


def test_readyz_turns_503_naming_redis_when_its_redis_stops(settings, tmp_path):
    """A Redis that was up and is stopped makes readiness fail on redis (and the queue it holds)."""
    with redis_server(tmp_path) as url:
        client = create_app(settings.replace(redis_url=url)).test_client()
        assert client.get("/readyz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert "redis" in response.json["failing"]
    assert response.json["checks"]["redis"]["error"] == "ConnectionError"
    assert response.json["checks"]["database"]["ok"] is True


def test_readyz_turns_503_naming_the_database_when_it_is_unreachable(settings):
    """A database nobody listens for fails the database and migrations checks, not Redis."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    response = create_app(settings.replace(database_url=url)).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["database", "migrations"]
    assert response.json["checks"]["redis"]["ok"] is True
    assert "postgres@" not in response.get_data(as_text=True)  # errors by type, no connection details


def test_readyz_turns_503_when_migrations_are_not_at_head(settings, tmp_path):
    """A reachable database the release phase has not migrated is not ready."""
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    response = create_app(settings.replace(database_url=url)).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["migrations"]
    assert response.json["checks"]["migrations"]["current"] == []
    assert response.json["checks"]["migrations"]["head"]


def test_readyz_turns_503_when_the_backlog_passes_the_threshold(settings, redis_conn):
    """More waiting jobs than READY_MAX_QUEUE_DEPTH: the workers are not keeping up."""
    from tests.helpers import Deliver

    app = create_app(settings.replace(ready_max_queue_depth=1))
    deliver = Deliver(app.test_client())
    raw = sample("kobana", "bank_billet.paid.json")
    for delivery in ("d-1", "d-2"):
        assert deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": delivery}).json["status"] == "accepted"
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["queue"]
    queue = response.json["checks"]["queue"]
    assert (queue["ok"], queue["depth"], queue["max"]) == (False, 2, 1)
