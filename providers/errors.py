"""One small error hierarchy whose classes carry their HTTP meaning.

The view turns any ``WebhookError`` into ``{"error": code, "message": ...}`` with ``status``;
messages are written for the provider's delivery log, so they never carry a secret.
"""

from __future__ import annotations


class WebhookError(Exception):
    status: int = 400
    code: str = "bad_request"


class Unauthenticated(WebhookError):
    """The request is not provably from the provider; nothing is stored.

    ``reason`` is a category an operator acts on, counted per provider by the refusals alert
    (ops/refusals.py): ``bad_signature``, ``stale_timestamp``, ``wrong_credentials`` or ``missing``.
    """

    status = 401
    code = "unauthenticated"

    def __init__(self, message: str, reason: str = "bad_signature") -> None:
        super().__init__(message)
        self.reason = reason


class Invalid(WebhookError):
    """An authentic body that cannot be understood: it goes to quarantine, never to the bin."""

    code = "invalid"

    def __init__(self, message: str, errors: object = None) -> None:
        super().__init__(message)
        self.errors = errors if errors is not None else {"_schema": [message]}


class ProviderDisabled(WebhookError):
    status = 404
    code = "provider_disabled"


class QueueUnavailable(WebhookError):
    """Redis refused the event: the status the provider retries (``Provider.UNAVAILABLE_STATUS``;
    ``status`` is the default) + Retry-After, so the provider delivers it again."""

    status = 503
    code = "queue_unavailable"
    retry_after = 30

    @classmethod
    def because(cls, exc: BaseException) -> QueueUnavailable:
        """The refusal for a Redis error: its type only (a message may carry the server's address)."""
        return cls(f"event queue unavailable ({type(exc).__name__}); retry later")
