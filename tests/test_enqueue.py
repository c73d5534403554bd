"""The enqueue path after the first event: one Redis round trip, and still every job in Redis."""

from __future__ import annotations

from tests.helpers import queued, sample
from workers.queue import EVENTS_QUEUE


def test_every_event_after_the_first_is_still_queued(deliver, redis_conn):
    """Events enqueued after the queue is registered reach Redis like the first one."""
    raw = sample("kobana", "bank_billet.paid.json")
    for n in range(3):
        response = deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": f"delivery-{n}"})
        assert response.status_code == 200 and response.json["status"] == "accepted"
    assert [e["idempotency_key"] for e in queued(redis_conn)] == [f"delivery:delivery-{n}" for n in range(3)]


def test_the_queue_is_registered_for_rq_tools(deliver, redis_conn):
    """``rq info`` and dashboards list the events queue (RQ's ``rq:queues`` set)."""
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    assert redis_conn.sismember("rq:queues", f"rq:queue:{EVENTS_QUEUE}")


def test_a_redelivery_on_the_fast_path_is_a_duplicate(deliver, redis_conn):
    """The dedup fence still answers a resend once the queue is registered."""
    raw = sample("kobana", "bank_billet.paid.json")
    deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "first"})
    deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "again"})
    response = deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "again"})
    assert response.json["status"] == "duplicate"
    assert len(queued(redis_conn)) == 2
