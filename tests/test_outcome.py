"""One outcome vocabulary: a request's answer, its log line and its metric say the same word."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from providers import errors
from tests.helpers import sample
from web.outcome import Outcome


def _requests(outcome: str) -> float:
    return REGISTRY.get_sample_value("webhook_requests_total", {"provider": "kobana", "outcome": outcome}) or 0.0


@pytest.mark.parametrize(
    ("body", "signed", "answer", "word"),
    [
        (sample("kobana", "bank_billet.paid.json"), True, "status", "accepted"),
        (b"x" * 2_000_000, False, "error", "body_too_large"),
        (sample("kobana", "bank_billet.paid.json"), False, "error", "unauthenticated"),
    ],
    ids=["accepted", "body_too_large", "unauthenticated"],
)
def test_the_answer_the_log_line_and_the_metric_agree(deliver, redis_conn, body, signed, answer, word):
    """An accepted event is logged ``accepted`` (not the envelope's ``received``); a 413 is
    ``body_too_large`` in the body, the log and the metric alike."""
    before = _requests(word)
    with capture_logs() as lines:
        response = deliver.kobana(body, **({} if signed else {"signature": "sha256=" + "0" * 64}))
    assert response.json[answer] == word
    assert [line["outcome"] for line in lines if line["event"] == "webhook.handled"] == [word]
    assert _requests(word) - before == 1


def test_every_error_code_of_the_providers_is_an_outcome():
    """A ``WebhookError`` the view turns into an answer names its code in the vocabulary."""
    classes = [errors.WebhookError, *errors.WebhookError.__subclasses__()]
    assert {cls.code for cls in classes} <= set(Outcome)
