"""Secrets and documents stay out of logs: the masking pipeline, real request flows, and the audit itself."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from config import Settings
from ops import logconfig
from ops.logconfig import configure_logging, mask_text
from tests.helpers import CELCOIN_PASSWORD, KOBANA_SECRET, basic, kobana_signature, sample
from tests.log_audit import LogAudit, needles


def test_audit_knows_every_document_in_the_samples():
    """The audit looks for each sample CPF/CNPJ both as written and as bare digits."""
    found = needles()
    for document in ("311.422.058-90", "31142205890", "05.813.794/0001-26", "12345678000190", "12312312355"):
        assert document in found
    assert "***.123.123-**" not in found  # already masked by the provider


def test_audit_reports_a_leak_without_repeating_the_secret():
    audit = LogAudit()
    audit.scan(f"event=oops secret={KOBANA_SECRET} cpf=311.422.058-90", "test")
    [leak] = audit.leaks
    assert "KOBANA_SECRET" in leak and "CPF/CNPJ" in leak
    assert all(KOBANA_SECRET not in leak and "311.422.058-90" not in leak for leak in audit.leaks)


def test_production_pipeline_masks_documents_and_credentials(capsys):
    """A careless log call with a CPF, a CNPJ, a password and an Authorization header comes out masked."""
    configure_logging(Settings(log_format="json"))
    structlog.get_logger("careless").warning(
        "payload.seen",
        payload={"customer_cnpj_cpf": "311.422.058-90", "taxId": "12345678000190", "note": "cnpj 05.813.794/0001-26"},
        headers={"Authorization": basic(), "X-Kobana-Signature": "sha256=abc"},
        password=CELCOIN_PASSWORD,
    )
    logging.getLogger("library").error("client sent %s with %s", basic(), "987.654.321-00")
    err = capsys.readouterr().err
    assert "***.***.***-90" in err and "**.***.***/****-90" in err and "[masked]" in err
    for needle in needles():
        assert needle not in err


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("wrong Basic credentials", "wrong Basic credentials"),
        ("sent Basic Y2VsY29pbi11c2VyOnMzbmhA", "sent Basic [masked]"),
        ("authorization: bearer eyJhbGciOi.x", "authorization: bearer [masked]"),
        ("cpf 98765432100 and 12.345.678/0001-95", "cpf ***.***.***-00 and **.***.***/****-95"),
    ],
)
def test_free_text_credentials_and_documents_are_masked(text, masked):
    """Library messages are free text: tokens after Basic/Bearer and CPF/CNPJ are masked, prose is kept."""
    assert mask_text(text) == masked


def test_configured_secrets_are_masked_wherever_they_appear(settings):
    """The secrets in use are masked even in a message no rule anticipated."""
    configure_logging(settings)
    assert mask_text(f"retrying with key {KOBANA_SECRET}!") == "retrying with key [masked]!"


def test_real_request_flows_log_nothing_sensitive(capsys, settings, deliver, redis_conn):
    """Accepted, quarantined and refused deliveries carrying CPFs and credentials leave no trace of them."""
    configure_logging(settings)  # bind the handler to the stderr capsys captures
    raw = sample("kobana", "pix.paid.json")
    assert deliver.kobana(raw, headers={"X-Request-Id": "311.422.058-90"}).status_code == 200
    broken = raw.replace(b'"event_code"', b'"event_kode"')
    assert deliver.kobana(broken, headers={"X-Kobana-Event": "12345678000190"}).json["status"] == "quarantined"
    assert deliver.kobana(raw, signature=kobana_signature(raw, "wrong")).status_code == 498
    assert (
        deliver.celcoin(
            sample("celcoin", "pix-payment-in.json"), authorization=basic("x", CELCOIN_PASSWORD)
        ).status_code
        == 401
    )
    assert deliver.celcoin(sample("celcoin", "card-created.flat.json"), entity="card-created").status_code == 200
    err = capsys.readouterr().err
    assert "webhook.quarantined" in err  # the lines were really produced
    for needle in needles():
        assert needle not in err


def test_the_quarantine_view_shows_no_full_document(app, deliver, work, engine, registry):
    """``flask events list/show`` on a quarantined body full of CPFs and CNPJs shows them masked."""
    raw = sample("kobana", "pix.paid.json").replace(b'"event_code"', b'"event_kode"')
    assert deliver.kobana(raw).json["status"] == "quarantined"
    work()
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["events", "list", "--status", "quarantined", "--format", "json"])
    [event] = json.loads(listed.output)
    shown = runner.invoke(args=["events", "show", str(event["id"])])
    assert shown.exit_code == 0, shown.output
    assert "***.***.***-00" in shown.output  # the body is there, masked
    for needle in needles():
        assert needle not in listed.output + shown.output
    revealed = runner.invoke(args=["events", "show", "--reveal", str(event["id"])])
    assert "987.654.321-00" in revealed.output  # an operator repairing the body can still ask for it


def _mask_text_full_path(text: str) -> str:
    """``mask_text`` without its shortcut: every replacement and substitution, always."""
    for secret in logconfig._known_secrets:
        text = text.replace(secret, logconfig.MASK)
    text = logconfig._CREDENTIAL.sub(lambda m: f"{m[1]} {logconfig.MASK}", text)
    text = logconfig._CNPJ.sub(lambda m: f"**.***.***/****-{m[1]}", text)
    return logconfig._CPF.sub(lambda m: f"***.***.***-{m[1]}", text)


_PIECES = st.sampled_from(
    [KOBANA_SECRET, CELCOIN_PASSWORD, "Basic ", "bearer ", "Token\t", "Y2VsY29p", "123", ".", "-", "/", "0001", "99"]
)


@settings_(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=12).map("".join))
def test_mask_text_shortcut_never_changes_the_result(settings, text):
    """Text the one-search shortcut returns untouched is text the full path would not change."""
    configure_logging(settings)
    assert mask_text(text) == _mask_text_full_path(text)
