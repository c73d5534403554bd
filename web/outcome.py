"""One word for what became of a request to the door: its answer, its log line and its metric say the same.

A 2xx answers ``{"status": <outcome>, "id": ...}``, a refusal ``{"error": <outcome>, "message": ...}``;
the request's ``webhook.handled`` line logs ``outcome=<outcome>`` and
``webhook_requests_total{outcome}`` counts it. The view records it once per request (``record``).
"""

from __future__ import annotations

from enum import StrEnum

from flask import Response, g, jsonify

from schemas.envelope import PING, QUARANTINED, RECEIVED


class Outcome(StrEnum):
    # Answered 2xx: the event is in Redis, or needs nothing.
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    PING = "ping"
    #: Transfeera's unsigned registration test; answered ``{"status": "ok"}`` (README).
    PROBE = "probe"
    # Refused: the codes of ``providers.errors`` and of the HTTP errors Werkzeug raises.
    BAD_REQUEST = "bad_request"
    UNAUTHENTICATED = "unauthenticated"
    INVALID = "invalid"
    PROVIDER_DISABLED = "provider_disabled"
    QUEUE_UNAVAILABLE = "queue_unavailable"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BODY_TOO_LARGE = "body_too_large"
    HTTP_ERROR = "http_error"
    INTERNAL_ERROR = "internal_error"

    @classmethod
    def of_envelope(cls, status: str, *, duplicate: bool) -> Outcome:
        """What the provider is told about an event whose envelope has ``status``."""
        return cls.DUPLICATE if duplicate else _BY_STATUS[status]


_BY_STATUS = {RECEIVED: Outcome.ACCEPTED, PING: Outcome.PING, QUARANTINED: Outcome.QUARANTINED}


def record(outcome: Outcome) -> Outcome:
    """Remember this request's outcome for its log line and its metric."""
    g.outcome = outcome
    return outcome


def recorded() -> Outcome:
    """This request's outcome; a request that recorded none failed where nothing could."""
    outcome: Outcome = g.get("outcome", Outcome.INTERNAL_ERROR)
    return outcome


def refuse(outcome: Outcome, message: str | None, status: int) -> tuple[Response, int]:
    """Every refusal's answer, ``{"error": outcome, "message": ...}``, with its outcome recorded."""
    return jsonify(error=record(outcome).value, message=message), status
