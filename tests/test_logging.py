"""Logs: one masking processor that no sample's CPF/CNPJ or secret survives, and context on every line."""

from __future__ import annotations

import json
import re

import pytest
import structlog

from app import create_app
from ops.logconfig import mask_sensitive
from tests.helpers import (
    CELCOIN_PASSWORD,
    KOBANA_SECRET,
    SAMPLES,
    TRANSFEERA_SECRET,
    Deliver,
    basic,
    kobana_signature,
    sample,
)

ALL_SAMPLES = sorted(p.relative_to(SAMPLES) for p in SAMPLES.glob("*/*.json"))
#: Keys under which the samples carry a person's or company's document number.
_DOCUMENT_KEY = re.compile(r"cpf|cnpj|taxid|document", re.IGNORECASE)


def documents(value: object, key: str = "") -> list[str]:
    """Every CPF (11 digits) or CNPJ (14 digits) found under a document-like key, as written."""
    if isinstance(value, dict):
        return [d for k, v in value.items() for d in documents(v, str(k))]
    if isinstance(value, list):
        return [d for v in value for d in documents(v, key)]
    digits = re.sub(r"\D", "", str(value))
    return [str(value)] if _DOCUMENT_KEY.search(key) and len(digits) in (11, 14) else []


def rendered(event_dict: dict) -> str:
    return json.dumps(mask_sensitive(None, "info", dict(event_dict)), default=str, ensure_ascii=False)


def test_the_samples_do_carry_documents_to_mask():
    """Guard for the test below: the samples are not trivially clean."""
    found = [d for path in ALL_SAMPLES for d in documents(json.loads((SAMPLES / path).read_text()))]
    assert len(found) >= 10


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=str)
def test_no_cpf_or_cnpj_of_a_sample_survives_the_masking_processor(path):
    """Each sample, as a parsed payload, as raw bytes and as text: no document number comes out."""
    raw = (SAMPLES / path).read_bytes()
    payload = json.loads(raw)
    text = rendered({"event": "payload", "payload": payload, "raw": raw, "body_text": raw.decode()})
    for document in documents(payload):
        assert document not in text
        assert re.sub(r"\D", "", document) not in text


def test_secrets_and_authorization_never_survive_the_masking_processor():
    """Header and setting names that carry secrets are masked whatever their value."""
    text = rendered(
        {
            "event": "headers",
            "headers": {"Authorization": basic(), "X-Kobana-Signature": kobana_signature(b"{}")},
            "kobana_webhook_secret": KOBANA_SECRET,
            "settings": {"transfeera_secrets": TRANSFEERA_SECRET, "celcoin_password": CELCOIN_PASSWORD},
            "metrics_token": "scrape-me",
        }
    )
    for secret in (KOBANA_SECRET, TRANSFEERA_SECRET, CELCOIN_PASSWORD, "scrape-me", basic()[6:]):
        assert secret not in text


def json_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


CONTEXT = {"provider", "event_code", "event_id", "idempotency_key", "request_id"}


def test_web_lines_for_an_event_carry_its_context_and_the_incoming_request_id(settings, capsys):
    """An incoming X-Request-Id is honoured and lands on the line with the event's context."""
    app = create_app(settings.replace(log_format="json"))
    raw = sample("kobana", "bank_billet.paid.json")
    response = Deliver(app.test_client()).kobana(raw, headers={"X-Request-Id": "req-abc-123"})
    assert response.headers["X-Request-Id"] == "req-abc-123"
    lines = [line for line in json_lines(capsys.readouterr().err) if line["event"] == "webhook.handled"]
    assert len(lines) == 1
    assert CONTEXT <= lines[0].keys()
    assert lines[0]["request_id"] == "req-abc-123"
    assert lines[0]["event_id"] == response.json["id"]


def test_worker_lines_carry_the_same_context_as_the_web_ack(settings, redis_conn, runtime, registry, capsys):
    """The worker binds provider, code, event id, idempotency key and the web's request id at job start."""
    from rq import SimpleWorker

    from workers.queue import queues

    seen = []
    registry.handler("kobana", "bank_billet.paid")(
        lambda event, session: seen.append(structlog.get_logger("test").info("handler.ran"))
    )
    app = create_app(settings.replace(log_format="json"))
    raw = sample("kobana", "bank_billet.paid.json")
    response = Deliver(app.test_client()).kobana(raw, headers={"X-Request-Id": "req-worker-1"})
    SimpleWorker(list(queues(redis_conn)), connection=redis_conn, serializer="json").work(burst=True)
    lines = json_lines(capsys.readouterr().err)
    for name in ("handler.ran", "event.done"):
        line = next(line for line in lines if line["event"] == name)
        assert CONTEXT <= line.keys(), name
        assert (line["request_id"], line["event_id"]) == ("req-worker-1", response.json["id"])


def test_a_quarantined_body_is_logged_without_its_documents(settings, capsys):
    """An authentic body that fails validation is logged with its errors, never its CPF."""
    app = create_app(settings.replace(log_format="json"))
    raw = b'{"event_code":"bank_billet.paid","object":{"amount":"not money","customer_cnpj_cpf":"311.422.058-90"}}'
    assert Deliver(app.test_client()).kobana(raw).json["status"] == "quarantined"
    err = capsys.readouterr().err
    assert "webhook.quarantined" in err
    assert "311.422.058-90" not in err and "31142205890" not in err
