"""The enqueue path after the first event: one Redis round trip, and still every job in Redis."""

from __future__ import annotations

import threading

from tests.helpers import Deliver, queued, sample
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


def _appending_connections(redis_conn) -> list[int]:
    """Ids of the connections to the test database whose last command was the door's append (by
    its digest, or by its text when this Redis did not know the script yet)."""
    db = redis_conn.connection_pool.connection_kwargs.get("db", 0)
    clients = redis_conn.client_list()
    return sorted(int(c["id"]) for c in clients if c["cmd"] in ("evalsha", "eval") and int(c["db"]) == db)


def test_each_serving_thread_appends_over_a_connection_it_keeps(deliver, redis_conn):
    """gunicorn serves on several threads: each keeps one connection for its appends instead of
    taking one from the pool and giving it back around every event (web/queue.py says why)."""
    raw = sample("kobana", "bank_billet.paid.json")
    before = set(_appending_connections(redis_conn))  # other tests' apps may still hold theirs
    for n in range(2):
        assert deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": f"main-{n}"}).json["status"] == "accepted"
    [mine] = set(_appending_connections(redis_conn)) - before  # both over one connection
    answered, checked, answers = threading.Event(), threading.Event(), []

    def serve_two_and_stay() -> None:
        for n in range(2):
            answers.append(deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": f"other-{n}"}).json["status"])
        answered.set()
        checked.wait(10)  # alive, so its connection is too, while the main thread looks

    other = threading.Thread(target=serve_two_and_stay)
    other.start()
    try:
        assert answered.wait(10)
        assert len(set(_appending_connections(redis_conn)) - before - {mine}) == 1  # its own, one for both
    finally:
        checked.set()
        other.join()
    assert answers == ["accepted", "accepted"]
    assert len(queued(redis_conn)) == 4


def test_a_kept_connection_that_redis_dropped_is_replaced_by_the_next_delivery(deliver, redis_conn):
    """A kept connection may die (a Redis restart, an idle timeout): the next event still lands."""
    raw = sample("kobana", "bank_billet.paid.json")
    others = set(_appending_connections(redis_conn))
    assert deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "before"}).json["status"] == "accepted"
    [kept] = set(_appending_connections(redis_conn)) - others
    redis_conn.client_kill_filter(_id=kept)
    response = deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "after"})
    assert response.status_code == 200 and response.json["status"] == "accepted"
    assert [e["idempotency_key"] for e in queued(redis_conn)] == ["delivery:before", "delivery:after"]


def test_an_append_after_redis_forgot_the_script_still_lands(deliver, redis_conn):
    """A restarted Redis, or ``SCRIPT FLUSH``, no longer knows the append script by its digest:
    the append sends it whole once, and the event is queued as any other."""
    raw = sample("kobana", "bank_billet.paid.json")
    assert deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "before"}).json["status"] == "accepted"
    redis_conn.script_flush()
    response = deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "after"})
    assert response.status_code == 200 and response.json["status"] == "accepted"
    assert deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "after"}).json["status"] == "duplicate"
    assert [e["idempotency_key"] for e in queued(redis_conn)] == ["delivery:before", "delivery:after"]


def test_disconnect_closes_every_redis_connection_the_app_opened(app, deliver, redis_conn):
    """Both pools' connections, the serving thread's kept one included: a test's app leaves no socket behind."""
    from web.queue import disconnect

    raw = sample("kobana", "bank_billet.paid.json")
    before = _connections(redis_conn)
    assert deliver.kobana(raw, headers={"X-Kobana-Delivery-Id": "one"}).json["status"] == "accepted"
    assert deliver.client.get("/readyz").status_code == 200  # the app's own client too
    opened = _connections(redis_conn) - before
    assert len(opened) == 2
    disconnect(app)
    assert opened.isdisjoint(_connections(redis_conn))


def test_an_app_dropped_without_disconnect_closes_its_connections_when_collected(settings, redis_conn):
    """A test's or a tool's app that nobody disconnects leaves no socket open once it is garbage."""
    import gc

    from app import create_app

    before = _connections(redis_conn)
    client = create_app(settings).test_client()
    raw = sample("kobana", "bank_billet.paid.json")
    assert Deliver(client).kobana(raw).json["status"] == "accepted"
    opened = _connections(redis_conn) - before
    assert opened
    del client
    gc.collect()
    assert opened.isdisjoint(_connections(redis_conn))


def _connections(redis_conn) -> set[int]:
    """Ids of every client connection Redis has open."""
    return {int(c["id"]) for c in redis_conn.client_list()}
