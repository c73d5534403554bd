"""Metrics in one process: what moves when, who may scrape, and what never becomes a label."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from app import create_app
from tests.helpers import Deliver, sample, transfeera_signature
from workers import jobs


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_are_counted_by_provider_and_outcome(deliver):
    """accepted, duplicate and unauthenticated are told apart, per provider."""
    raw = sample("kobana", "bank_billet.paid.json")
    names = ("accepted", "duplicate", "unauthenticated")
    before = {o: value("webhook_requests_total", provider="kobana", outcome=o) for o in names}
    deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "m-1"})
    deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "m-1"})
    deliver.kobana(raw, signature="sha256=" + "0" * 64)
    after = {o: value("webhook_requests_total", provider="kobana", outcome=o) for o in names}
    assert {o: after[o] - before[o] for o in names} == {"accepted": 1, "duplicate": 1, "unauthenticated": 1}


def test_ack_latency_is_observed_per_provider(deliver):
    """Each answered webhook adds one observation to its provider's histogram."""
    before = value("webhook_ack_seconds_count", provider="transfeera")
    raw = sample("transfeera", "CashIn.json")
    assert deliver.transfeera(raw, signature=transfeera_signature(raw)).status_code == 200
    assert value("webhook_ack_seconds_count", provider="transfeera") - before == 1


def test_an_unknown_provider_path_is_one_bounded_label(client):
    """Whatever path an attacker invents, the provider label stays 'unknown'."""
    before = value("webhook_requests_total", provider="unknown", outcome="not_found")
    client.post("/webhooks/attacker-chosen-123", data=b"{}")
    assert value("webhook_requests_total", provider="unknown", outcome="not_found") - before == 1


def test_worker_counts_processed_events_by_provider_and_code(deliver, work, registry):
    """A processed event moves events_total{outcome=processed} and the handler histogram."""
    registry.handler("kobana", "bank_billet.paid")(lambda event, session: None)
    before = value("webhook_events_total", provider="kobana", event_code="bank_billet.paid", outcome="processed")
    seconds = value("webhook_event_handling_seconds_count", provider="kobana")
    deliver.kobana(sample("kobana", "bank_billet.paid.json"), headers={"X-Kobana-Delivery-Id": "w-1"})
    work()
    after = value("webhook_events_total", provider="kobana", event_code="bank_billet.paid", outcome="processed")
    assert after - before == 1
    assert value("webhook_event_handling_seconds_count", provider="kobana") - seconds == 1


def test_a_final_failure_counts_a_dead_letter(deliver, work, registry):
    """A handler failing its last attempt: one dead letter and one failed event."""

    def boom(event, session):
        raise RuntimeError("handler broke")

    registry.handler("kobana", "pix.paid")(boom)
    labels = {"provider": "kobana", "event_code": "pix.paid"}
    before = value("webhook_event_dead_letters_total", **labels)
    deliver.kobana(sample("kobana", "pix.paid.json"), headers={"X-Kobana-Delivery-Id": "w-2"})
    work()
    assert value("webhook_event_dead_letters_total", **labels) - before == 1
    assert value("webhook_events_total", outcome="failed", **labels) >= 1


def test_queue_depth_and_oldest_age_are_read_from_redis_at_scrape(deliver, client):
    """Waiting jobs show on the scrape with the age of the oldest one."""
    deliver.kobana(sample("kobana", "bank_billet.paid.json"), headers={"X-Kobana-Delivery-Id": "q-1"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'webhook_queue_depth{queue="events"} 1.0' in text
    assert 'webhook_queue_oldest_job_age_seconds{queue="events"}' in text
    assert "webhook_queue_up 1.0" in text


def test_metrics_without_a_token_are_for_loopback_only(client):
    """No METRICS_TOKEN: a scrape from another host is refused (behind a router nothing is loopback)."""
    assert client.get("/metrics").status_code == 200
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403
    assert response.json["error"] == "forbidden"


def test_metrics_with_a_token_need_it_from_anywhere(settings):
    """METRICS_TOKEN set: Bearer token required, compared in constant time."""
    client = create_app(settings.replace(metrics_token="scrape-me")).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}, environ_base=remote)
    assert ok.status_code == 200
    assert "webhook_requests_total" in ok.get_data(as_text=True)


def test_metrics_on_an_internal_port_are_not_on_the_public_one(settings):
    """METRICS_PORT set: the public /metrics is 404; gunicorn's master serves them on that port."""
    client = create_app(settings.replace(metrics_port=9191)).test_client()
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("document", ["123.456.789-09", "12345678909", "12.345.678/0001-95"])
def test_an_event_code_label_never_carries_a_cpf_or_cnpj(document):
    """A code taken from a URL could be a document number: the label is masked."""
    from ops.metrics import code_label

    assert document not in code_label(document)
    assert "".join(c for c in document if c.isdigit()) not in code_label(document)


def test_metrics_on_their_own_port_include_the_queue_gauges(redis_conn, deliver):
    """METRICS_PORT / WORKER_METRICS_PORT: a plain HTTP server per process, same content."""
    import urllib.request

    from ops import metrics
    from tests.servers import free_port

    deliver.kobana(sample("kobana", "bank_billet.paid.json"), headers={"X-Kobana-Delivery-Id": "p-1"})
    port = free_port()
    server, thread = metrics.serve_on_port(port, redis_conn, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert 'webhook_queue_depth{queue="events"} 1.0' in text
    assert "webhook_requests_total" in text


def test_a_failed_attempt_with_retries_left_counts_a_retry(settings, work, registry):
    """The first failure of a retried job is a retry, not a dead letter."""
    calls = []

    def flaky(event, session):
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("ledger timed out")

    registry.handler("kobana", "pix.register.confirmed")(flaky)
    labels = {"provider": "kobana", "event_code": "pix.register.confirmed"}
    before = (value("webhook_event_retries_total", **labels), value("webhook_event_dead_letters_total", **labels))
    processed = value("webhook_events_total", outcome="processed", **labels)
    retrying = settings.replace(job_retry_max=2, job_retry_intervals=(0,))
    jobs.configure(retrying)  # the retry policy is the worker's
    app = create_app(retrying)
    Deliver(app.test_client()).kobana(sample("kobana", "pix.register.confirmed.json"))
    work()
    after = (value("webhook_event_retries_total", **labels), value("webhook_event_dead_letters_total", **labels))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 0)
    assert value("webhook_events_total", outcome="processed", **labels) - processed == 1
