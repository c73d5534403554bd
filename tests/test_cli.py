"""``flask events list|show|replay``: the operator's view of the event log, JSON as in docs/cli.md."""

from __future__ import annotations

import json

import pytest
from rq.registry import FailedJobRegistry

from app import create_app
from tests import effects as fx
from tests.helpers import Deliver, sample
from workers import jobs
from workers.queue import queues


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["events", *args])


def _list(cli, *args) -> list[dict]:
    result = cli("list", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _recorder(registry, *patterns, name="record"):
    def fn(event, session):
        fx.record(event, session, name)

    fn.__name__ = fn.__qualname__ = name
    registry.handler("kobana", *patterns)(fn)


def test_list_json_has_the_documented_fields(deliver, work, cli, registry, effects):
    """``events list --format json`` prints an array of summaries with the documented keys."""
    _recorder(registry, "bank_billet.paid")
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    work()
    [event] = _list(cli)
    assert set(event) == {
        "id",
        "provider",
        "event_code",
        "original_code",
        "idempotency_key",
        "status",
        "attempts",
        "occurred_at",
        "received_at",
        "processed_at",
        "last_error",
        "source",
    }
    assert event["source"] == "webhook"
    assert (event["status"], event["provider"], event["attempts"]) == ("processed", "kobana", 1)
    assert event["received_at"].endswith("Z")


def test_list_filters_by_provider_status_code_and_since(deliver, work, cli, registry, effects):
    """Filters combine; ``--code prefix.*`` matches a family; ``--since`` takes an age."""
    _recorder(registry, "bank_billet.paid")
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    deliver.kobana(sample("kobana", "pix.paid.json"))
    work()
    assert [e["event_code"] for e in _list(cli, "--status", "ignored")] == ["pix.paid"]
    assert [e["event_code"] for e in _list(cli, "--code", "bank_billet.*")] == ["bank_billet.paid"]
    assert len(_list(cli, "--provider", "kobana", "--since", "5m")) == 2
    assert _list(cli, "--since", "2999-01-01T00:00:00-03:00") == []
    assert _list(cli, "--provider", "transfeera") == []
    assert len(_list(cli, "--limit", "1")) == 1


def test_list_table_is_the_default(deliver, work, cli, registry):
    """Without ``--format`` a readable table with a header line is printed."""
    deliver.kobana(sample("kobana", "pix.paid.json"))
    work()
    result = cli("list")
    assert result.exit_code == 0
    header, line = result.output.splitlines()
    assert header.split()[:4] == ["ID", "STATUS", "PROVIDER", "EVENT_CODE"]
    assert "ignored" in line and "pix.paid" in line


def test_show_prints_raw_body_payload_and_the_handlers_that_ran(deliver, work, cli, registry, effects):
    """``events show --reveal ID`` has the exact raw body, the payload with exact amounts, and the handlers."""
    _recorder(registry, "bank_billet.paid")
    raw = sample("kobana", "bank_billet.paid.json")
    deliver.kobana(raw)
    work()
    [summary] = _list(cli)
    result = cli("show", "--reveal", str(summary["id"]))
    shown = json.loads(result.output)
    assert shown["raw_text"].encode() == raw
    assert shown["handlers"] == ["tests.test_cli.record"]
    assert isinstance(shown["payload"]["object"]["amount"], str)  # exact decimal string, never a float


def test_show_of_an_unknown_id_fails_clearly(cli, settings):
    """An unknown id is an error with a message, exit status 1."""
    result = cli("show", "999")
    assert result.exit_code == 1 and "no event 999" in result.output


def test_failed_event_comes_back_with_replay(settings, work, cli, registry, effects, redis_conn):
    """Retries exhausted → ``failed``, dead-lettered; after the fix replay processes it and clears the dead letter."""
    broken = {"on": True}

    def ledger(event, session):
        if broken["on"]:
            raise RuntimeError("chart of accounts missing")
        fx.record(event, session, "ledger")

    registry.handler("kobana", "bank_billet.paid")(ledger)
    retrying = settings.replace(job_retry_max=1, job_retry_intervals=(0,))
    jobs.configure(retrying)  # the retry policy is the worker's
    app = create_app(retrying)
    Deliver(app.test_client()).kobana(sample("kobana", "bank_billet.paid.json"))
    work()
    [event] = _list(cli, "--status", "failed")
    assert event["attempts"] == 2 and "chart of accounts missing" in event["last_error"]
    dead = FailedJobRegistry(queue=queues(redis_conn)[0])
    assert len(dead) == 1
    broken["on"] = False
    result = cli("replay", str(event["id"]))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"event {event['id']}: processed")
    assert len(effects()) == 1 and len(dead) == 0
    assert _list(cli)[0]["status"] == "processed"


def test_replay_of_a_processed_event_is_refused_without_force(deliver, work, cli, registry, effects):
    """A processed event is not re-run unless ``--force``; with it, handlers get the same event id."""
    _recorder(registry, "bank_billet.paid")
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    work()
    [event] = _list(cli)
    refused = cli("replay", str(event["id"]))
    assert refused.exit_code == 1 and "refused" in refused.output
    assert len(effects()) == 1
    forced = cli("replay", "--force", "--format", "json", str(event["id"]))
    assert json.loads(forced.output)[0]["result"] == "processed"
    assert [event_id for event_id, _, _ in effects()] == [event["id"], event["id"]]


def test_quarantined_event_is_processed_by_replay_after_the_fix(deliver, work, cli, registry, effects, monkeypatch):
    """Quarantined at the door by a schema bug; after the fix, replay fills code and payload and processes it."""
    from marshmallow import ValidationError

    from providers import kobana

    def too_strict(*args, **kwargs):
        raise ValidationError({"object": ["rejected by a bad deploy"]})

    _recorder(registry, "bank_billet.paid")
    monkeypatch.setattr(kobana, "describe", too_strict)
    deliver.kobana(sample("kobana", "bank_billet.paid.json"), headers={"X-Kobana-Event": "bank_billet.paid"})
    work()
    [event] = _list(cli, "--status", "quarantined")
    monkeypatch.undo()  # the fix is deployed
    result = cli("replay", "--status", "quarantined", "--provider", "kobana")
    assert result.exit_code == 0, result.output
    [after] = _list(cli)
    assert (after["id"], after["status"], after["event_code"]) == (event["id"], "processed", "bank_billet.paid")
    assert after["occurred_at"] is not None
    assert len(effects()) == 1


def test_replay_of_a_still_invalid_quarantined_event_keeps_it_quarantined(deliver, work, cli, registry):
    """A body that still fails validation stays quarantined, with its errors, and replay exits 1."""
    deliver.kobana(json.dumps({"event_code": "bank_billet.paid", "object": {"amount": "12,50"}}).encode())
    work()
    result = cli("replay", "--status", "quarantined")
    assert result.exit_code == 1 and ": quarantined" in result.output
    assert _list(cli)[0]["status"] == "quarantined"


@pytest.mark.parametrize(
    "args", [(), ("1", "--status", "failed"), ("--provider", "kobana", "1")], ids=["nothing", "both", "provider-alone"]
)
def test_replay_needs_ids_or_a_status(cli, settings, args):
    """Replay takes event ids or ``--status``, never both or neither."""
    assert cli("replay", *args).exit_code == 2
