"""Provider sync against loopback servers that follow each provider's documented API contract.

What a provider gave up delivering is brought in through the door's own path (same describe,
same idempotency key), marked ``source=resync``, and never doubled.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from db.sync_state import last_results
from ledger.models import LedgerObject
from ledger.traffic.bodies import dumps as exact_json
from tests.contract_servers import CelcoinServer, KobanaServer, TransfeeraServer, serving
from tests.helpers import queued, transfeera_signature
from tests.sync_helpers import (
    CELCOIN_ID,
    CELCOIN_SECRET,
    HTTP_OPTIONS,
    KOBANA_TOKEN,
    SLEEPS,
    TRANSFEERA_ID,
    TRANSFEERA_SECRET,
    api_settings,
    cli_json,
    kobana_paid,
    transfer_finalized,
)
from workers import sync
from workers.sync_providers import KOBANA_GET_RESERVE


@pytest.fixture
def transfeera_api():
    server = TransfeeraServer(TRANSFEERA_ID, TRANSFEERA_SECRET)
    with serving(server) as url:
        yield server, url


@pytest.fixture
def kobana_api():
    server = KobanaServer(KOBANA_TOKEN)
    with serving(server) as url:
        yield server, url


@pytest.fixture
def celcoin_api():
    server = CelcoinServer(CELCOIN_ID, CELCOIN_SECRET)
    with serving(server) as url:
        yield server, url


@pytest.fixture(autouse=True)
def _no_sleeps():
    SLEEPS.clear()
    yield


def _app(app, settings):
    app.extensions["settings"] = settings
    return app


def _ctx(settings, engine, redis_conn):
    return sync.Context(settings, engine, redis_conn, http_options=HTTP_OPTIONS)


def _ledger(engine, object_id):
    with sa.orm.Session(engine) as session:
        return session.scalars(sa.select(LedgerObject).where(LedgerObject.object_id == object_id)).one_or_none()


def test_finalized_transfer_whose_deliveries_all_failed_is_settled_after_resync(
    app, settings, transfeera_api, work, engine
):
    """A Transfer that reached FINALIZADO but never reached us is in the ledger, settled, after resync."""
    server, url = transfeera_api
    server.add_undelivered(transfer_finalized())
    app = _app(app, api_settings(settings, transfeera=url))
    assert _ledger(engine, "transfeera:60040") is None

    code, [report], output = cli_json(app, "resync", "transfeera", "--since", "1d", "--format", "json")
    work()

    assert code == 0, output
    assert {k: report[k] for k in ("found", "ingested", "duplicate", "requested_resend", "errors")} == {
        "found": 1, "ingested": 1, "duplicate": 0, "requested_resend": 0, "errors": []
    }  # fmt: skip
    payout = _ledger(engine, "transfeera:60040")
    assert (payout.status, payout.settled_cents, payout.expected_cents) == ("FINALIZADO", 10000, 10000)


def test_resynced_event_shows_source_resync_and_its_trust(app, settings, transfeera_api, work):
    """``events show`` says the event came by resync, trusted through TLS and our credentials."""
    server, url = transfeera_api
    server.add_undelivered(transfer_finalized())
    app = _app(app, api_settings(settings, transfeera=url))
    cli_json(app, "resync", "transfeera", "--since", "1d")
    work()

    runner = app.test_cli_runner()
    [summary] = json.loads(runner.invoke(args=["events", "list", "--format", "json"]).stdout)
    shown = json.loads(runner.invoke(args=["events", "show", str(summary["id"])]).stdout)
    assert (summary["source"], shown["source"], shown["trust"]) == ("resync", "resync", "api-tls-credentials")
    assert shown["idempotency_key"] == "event:7d3aae40-6655-4d9a-801b-d0ab7ae906d7"


def test_resync_twice_doubles_nothing_and_the_door_later_answers_duplicate(
    app, settings, transfeera_api, work, engine, client
):
    """A second resync finds the event stored (duplicate); the provider's late POST is a duplicate too."""
    server, url = transfeera_api
    envelope = transfer_finalized()
    server.add_undelivered(envelope)
    app = _app(app, api_settings(settings, transfeera=url))
    cli_json(app, "resync", "transfeera", "--since", "1d")
    work()

    _, [again], _ = cli_json(app, "resync", "transfeera", "--since", "1d", "--format", "json")
    raw = exact_json(envelope)
    late = client.post("/webhooks/transfeera", data=raw, content_type="application/json",
                       headers={"Transfeera-Signature": transfeera_signature(raw)})  # fmt: skip
    work()

    assert (again["found"], again["ingested"], again["duplicate"]) == (1, 0, 1)
    assert late.get_json()["status"] == "duplicate"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_facts")).scalar() == 1
    assert _ledger(engine, "transfeera:60040").settled_cents == 10000


def test_an_event_the_door_already_stored_is_a_duplicate_for_resync(app, settings, transfeera_api, work, client):
    """Door first, resync later: same idempotency key, nothing queued again."""
    server, url = transfeera_api
    envelope = transfer_finalized()
    server.add_undelivered(envelope)
    raw = exact_json(envelope)
    client.post("/webhooks/transfeera", data=raw, content_type="application/json",
                headers={"Transfeera-Signature": transfeera_signature(raw)})  # fmt: skip
    work()
    app = _app(app, api_settings(settings, transfeera=url))

    _, [report], _ = cli_json(app, "resync", "transfeera", "--since", "1d", "--format", "json")

    assert (report["ingested"], report["duplicate"]) == (0, 1)


def test_transfeera_429_is_retried_after_retry_after_and_the_token_is_reused(
    settings, transfeera_api, engine, redis_conn
):
    """A 429 with Retry-After: 1 waits 1 s (injected sleep) and retries; one token serves every call."""
    server, url = transfeera_api
    server.add_undelivered(transfer_finalized(event_id="11111111-1111-4111-8111-111111111111"))
    server.add_undelivered(transfer_finalized(event_id="22222222-2222-4222-8222-222222222222"))
    server.add_undelivered(transfer_finalized(event_id="33333333-3333-4333-8333-333333333333"))
    server.throttle = 1
    ctx = _ctx(api_settings(settings, transfeera=url), engine, redis_conn)
    now = datetime.now(UTC)

    report = sync.run(ctx, "transfeera", now - timedelta(days=1), now)

    assert SLEEPS == [1.0]
    assert (report.found, report.ingested, report.errors) == (3, 3, [])
    assert [c.query["page"] for c in server.calls("GET", "/webhook/event")] == ["0", "0", "1"]
    assert len(server.calls("POST", "/authorization")) == 1


def test_kobana_rate_limit_half_way_stops_politely_and_the_next_run_resumes(settings, kobana_api, engine, redis_conn):
    """Rate limited on page 3 of 3: the run stops without waiting an hour; the next resumes from the cursor."""
    server, url = kobana_api
    now = datetime.now(UTC)
    for n in range(120):
        server.add_failed(kobana_paid(1000 + n), now - timedelta(minutes=200 - n))
    server.add_failed(kobana_paid(9999), now).status = "delivered"  # delivered: not ours to fetch
    server.add_webhook("https://receiver.example.com/webhooks/kobana", ["bank_billet.paid"])
    server.exhaust_after = 3  # the webhooks list and two pages
    ctx = _ctx(api_settings(settings, kobana=url), engine, redis_conn)

    first = sync.run(ctx, "kobana", now - timedelta(hours=12), now)
    server.new_hour()
    second = sync.run(ctx, "kobana", now - timedelta(hours=12), now)

    assert (first.ingested, first.complete, first.errors, SLEEPS) == (100, False, [], [])
    assert "resumes there" in first.notes[-1]
    pages = [c.query["page"] for c in server.calls("GET", "/v1/webhook_deliveries")]
    assert pages == ["1", "2", "3", "2", "3"]  # resumed one page early (the list may have shifted)
    assert (second.ingested, second.duplicate, second.complete) == (20, 50, True)
    assert len(queued(redis_conn)) == 120
    assert all(
        c.query["status"] == "2" and c.query["per_page"] == "50" for c in server.calls("GET", "/v1/webhook_deliveries")
    )
    assert last_results(engine)["kobana"].complete is True


def test_kobana_keeps_a_reserve_of_its_hourly_gets(settings, kobana_api, engine, redis_conn):
    """With only the reserve left, the run stops before spending it and says why."""
    server, url = kobana_api
    now = datetime.now(UTC)
    for n in range(60):
        server.add_failed(kobana_paid(2000 + n), now - timedelta(minutes=90 - n))
    server.get_limit = KOBANA_GET_RESERVE + 2  # the webhooks list, one page, then only the reserve
    ctx = _ctx(api_settings(settings, kobana=url), engine, redis_conn)

    report = sync.run(ctx, "kobana", now - timedelta(hours=12), now)

    assert len(server.calls("GET", "/v1/webhook_deliveries")) == 1
    assert (report.ingested, report.complete) == (50, False)
    assert "GET requests left" in report.notes[-1]


def test_kobana_deliveries_of_another_systems_webhook_are_left_alone(settings, kobana_api, engine, redis_conn):
    """Only webhooks pointing at our door count: another consumer on the account keeps its own."""
    server, url = kobana_api
    now = datetime.now(UTC)
    for path in ("/webhooks/kobana", "/erp/kobana-hook", "/webhooks/kobana"):
        server.add_webhook(f"https://host.example.com{path}", ["bank_billet.paid"])
    for hook in (1, 2, 3):
        server.add_failed(kobana_paid(3000 + hook), now - timedelta(hours=1)).webhook_id = hook
    ctx = _ctx(api_settings(settings, kobana=url), engine, redis_conn)

    report = sync.run(ctx, "kobana", now - timedelta(hours=12), now)

    assert (report.found, report.ingested) == (2, 2)
    assert sorted(json.loads(base64.b64decode(j["raw_b64"]))["object"]["id"] for j in queued(redis_conn)) == [
        3001,
        3003,
    ]


def test_kobana_delivery_is_stored_under_its_delivery_id(settings, kobana_api, engine, redis_conn):
    """The delivery ``uid`` becomes the door's key (``X-Kobana-Delivery-Id``): one event either way."""
    server, url = kobana_api
    now = datetime.now(UTC)
    server.add_failed(kobana_paid(77), now - timedelta(hours=1), uid="5b8a2a8e-uid")
    ctx = _ctx(api_settings(settings, kobana=url), engine, redis_conn)

    sync.run(ctx, "kobana", now - timedelta(hours=12), now)

    [job] = queued(redis_conn)
    assert (job["idempotency_key"], job["source"], job["trust"]) == (
        "delivery:5b8a2a8e-uid",
        "resync",
        "api-tls-credentials",
    )
    assert json.loads(base64.b64decode(job["raw_b64"]))["object"]["id"] == 77


def test_register_twice_makes_one_registration_and_prints_the_secret_once(app, settings, kobana_api):
    """The first register creates the webhook and prints KOBANA_WEBHOOK_SECRET=...; the second reports it."""
    server, url = kobana_api
    app = _app(app, api_settings(settings, kobana=url))
    target = "https://receiver.example.com/webhooks/kobana"

    code1, _, out1 = cli_json(app, "register", "kobana", "--url", target)
    code2, _, out2 = cli_json(app, "register", "kobana", "--url", target)

    assert (code1, code2) == (0, 0)
    assert len(server.webhooks) == 1
    assert "KOBANA_WEBHOOK_SECRET=" in out1 and "registered" in out1
    assert "already registered" in out2 and "KOBANA_WEBHOOK_SECRET" not in out2


def test_transfeera_and_celcoin_register_twice_make_one_registration_each(app, settings, transfeera_api, celcoin_api):
    """Transfeera: one ``POST /webhook``; Celcoin: one subscription per entity, with our Basic credentials."""
    t_server, t_url = transfeera_api
    c_server, c_url = celcoin_api
    app = _app(app, api_settings(settings, transfeera=t_url, celcoin=c_url))
    for _ in range(2):
        cli_json(app, "register", "transfeera", "--url", "https://r.example.com/webhooks/transfeera")
        cli_json(app, "register", "celcoin", "--url", "https://r.example.com/webhooks/celcoin",
                 "--events", "pix-payment-in,pix-payment-out")  # fmt: skip

    assert len(t_server.webhooks) == 1
    assert sorted(c_server.subscriptions) == ["pix-payment-in", "pix-payment-out"]
    sub = c_server.subscriptions["pix-payment-in"]
    assert sub["webhookUrl"] == "https://r.example.com/webhooks/celcoin/pix-payment-in"
    assert sub["auth"] == {"login": settings.celcoin.username.decode(), "pwd": settings.celcoin.password.decode(),
                           "type": "basic"}  # fmt: skip


@pytest.mark.parametrize("url", ["http://receiver.example.com/webhooks/kobana", "ftp://x/webhooks/kobana", "nonsense"])
def test_register_refuses_a_non_https_url(app, settings, kobana_api, url):
    """Plain http (except localhost) and non-URLs are refused before any call to the provider."""
    server, api_url = kobana_api
    app = _app(app, api_settings(settings, kobana=api_url))

    code, _, output = cli_json(app, "register", "kobana", "--url", url)

    assert code == 2 and "--url" in output
    assert server.seen == []


def test_register_dry_run_changes_nothing(app, settings, kobana_api):
    server, url = kobana_api
    app = _app(app, api_settings(settings, kobana=url))

    code, _, output = cli_json(app, "register", "kobana", "--url", "http://localhost:8000/webhooks/kobana", "--dry-run")

    assert code == 0 and "would register" in output
    assert server.webhooks == []


def test_celcoin_resync_asks_a_replay_per_subscribed_entity_and_names_the_7_day_limit(app, settings, celcoin_api):
    """Pending webhooks are counted and resent per entity; a window past 7 days is said plainly."""
    server, url = celcoin_api
    app = _app(app, api_settings(settings, celcoin=url))
    cli_json(app, "register", "celcoin", "--url", "https://r.example.com/webhooks/celcoin",
             "--events", "pix-payment-in,pix-payment-out")  # fmt: skip
    server.pending["pix-payment-in"] = [(datetime.now(UTC) - timedelta(hours=2), {"entity": "pix-payment-in"})] * 2

    code, [report], _ = cli_json(app, "resync", "celcoin", "--since", "10d", "--format", "json")

    assert code == 0
    assert (report["found"], report["requested_resend"], report["ingested"]) == (2, 2, 0)
    assert "7-day" in report["notes"][0]
    puts = [s.path.rsplit("/", 1)[1] for s in server.seen if s.method == "PUT"]
    assert puts == ["pix-payment-in"]
    assert all(s.query["OnlyPending"] == "true" for s in server.seen if "/replay/" in s.path)


def test_dry_run_counts_and_queues_nothing(app, settings, transfeera_api, redis_conn):
    server, url = transfeera_api
    server.add_undelivered(transfer_finalized())
    app = _app(app, api_settings(settings, transfeera=url))

    code, [report], _ = cli_json(app, "resync", "transfeera", "--since", "1d", "--dry-run", "--format", "json")

    assert (code, report["found"], report["would_ingest"], report["ingested"]) == (0, 1, 1, 0)
    assert queued(redis_conn) == []


def test_an_unconfigured_provider_has_no_sync_and_status_says_so(app, settings):
    code, rows, _ = cli_json(app, "status", "--format", "json")

    assert code == 0
    assert {r["provider"]: r["api_configured"] for r in rows} == {
        "kobana": False,
        "transfeera": False,
        "celcoin": False,
    }
    code, _, output = cli_json(app, "resync", "kobana", "--since", "1h")
    assert code == 1 and "not configured" in output


def test_status_lists_registrations_last_sync_and_recovered(app, settings, transfeera_api, work):
    server, url = transfeera_api
    server.add_undelivered(transfer_finalized())
    app = _app(app, api_settings(settings, transfeera=url))
    cli_json(app, "register", "transfeera", "--url", "https://r.example.com/webhooks/transfeera")
    cli_json(app, "resync", "transfeera", "--since", "1d")

    _, rows, _ = cli_json(app, "status", "--format", "json")

    [row] = [r for r in rows if r["provider"] == "transfeera"]
    assert row["webhooks"][0]["url"] == "https://r.example.com/webhooks/transfeera"
    assert (row["last_sync"]["ok"], row["recovered"], row["last_sync"]["counts"]["ingested"]) == (True, 1, 1)


def test_a_provider_api_error_is_recorded_without_the_credentials(settings, transfeera_api, engine, redis_conn):
    """Wrong client secret: the run fails, ``last_results`` says so, no secret in the message."""
    server, url = transfeera_api
    server.client_secret = "something-else"
    ctx = _ctx(api_settings(settings, transfeera=url), engine, redis_conn)
    now = datetime.now(UTC)

    report = sync.run(ctx, "transfeera", now - timedelta(days=1), now)

    result = last_results(engine)["transfeera"]
    assert result.ok is False and "401" in result.error
    assert TRANSFEERA_SECRET not in result.error and TRANSFEERA_SECRET not in repr(report)
    assert TRANSFEERA_SECRET not in repr(ctx.settings)


def test_the_automatic_sync_runs_once_per_interval_in_a_thread(settings, transfeera_api, engine, redis_conn):
    """The worker's maintenance starts it in a thread when due; within the interval it does not."""
    server, url = transfeera_api
    server.add_undelivered(transfer_finalized())
    settings = api_settings(settings, transfeera=url)

    thread = sync.maybe_start(redis_conn, settings)
    assert thread is not None
    thread.join(10)
    again = sync.maybe_start(redis_conn, settings)

    assert again is None
    assert last_results(engine)["transfeera"].counts["ingested"] == 1
    assert len(queued(redis_conn)) == 1


def test_the_workers_maintenance_starts_the_sync_without_waiting_for_it(settings, transfeera_api, engine, redis_conn):
    """``run_maintenance_tasks`` returns at once; the sync completes in its own thread."""
    from workers.__main__ import build_worker

    server, url = transfeera_api
    server.add_undelivered(transfer_finalized())
    worker = build_worker(api_settings(settings, transfeera=url), redis_conn)

    worker.run_maintenance_tasks()
    sync._thread.join(10)

    assert last_results(engine)["transfeera"].counts["ingested"] == 1


def test_a_5xx_is_retried_with_backoff(settings, transfeera_api, engine, redis_conn):
    server, url = transfeera_api
    server.add_undelivered(transfer_finalized())
    server.unavailable = 2
    ctx = _ctx(api_settings(settings, transfeera=url), engine, redis_conn)
    now = datetime.now(UTC)

    report = sync.run(ctx, "transfeera", now - timedelta(days=1), now)

    assert (report.ingested, report.errors) == (1, [])
    assert SLEEPS == [0.01, 0.02]


def test_oauth_tokens_are_cached_refreshed_when_expired_and_after_a_401(settings, transfeera_api):
    """One token serves calls until shortly before ``expires_in``; a revoked one is replaced once."""
    from providers.api import open_api

    server, url = transfeera_api
    clock = [1_000_000.0]
    api = open_api("transfeera", api_settings(settings, transfeera=url), now=lambda: clock[0], **HTTP_OPTIONS)
    try:
        api.webhooks()
        api.webhooks()
        clock[0] += 1800  # expires_in
        api.webhooks()
        server.tokens.clear()  # revoked on Transfeera's side
        api.webhooks()
    finally:
        api.http.close()

    assert len(server.calls("POST", "/authorization")) == 3
    assert api.token.fetches == 3


def test_the_automatic_window_starts_at_the_last_good_sync_minus_an_overlap(engine):
    now = datetime.now(UTC)
    report = sync.Report("kobana", now - timedelta(days=3), now - timedelta(days=2))
    sync.record(engine, report, now - timedelta(days=2))

    since, until = sync.automatic_window(engine, "kobana", now)

    assert until == now
    assert since == now - timedelta(days=2) - sync.OVERLAP
