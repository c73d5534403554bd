"""What an authentic request becomes, and exactly what goes onto the queue.

The queue carries the raw body byte for byte (as a stream field of its own, or base64 in an RQ
job's JSON) and metadata, never a parsed payload:
JSON has no Decimal, and re-parsing the exact bytes in the worker with the same provider
code gives the same Decimal amounts without a float ever crossing Redis.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Re-exported: the statuses the door decides (``schemas.status`` has them all).
from schemas.status import PING as PING
from schemas.status import QUARANTINED as QUARANTINED
from schemas.status import RECEIVED as RECEIVED

#: How an event reached us: POSTed by the provider to the door, or fetched by ``flask providers
#: resync`` / the worker's sync from the provider's API (workers/sync.py).
WEBHOOK, RESYNC = "webhook", "resync"
#: Why we believe it: the provider's signature or Basic credentials checked at the door, or TLS to
#: the provider's API host plus our own API credentials (there is no signature on an API response).
TRUST_DOOR, TRUST_API = "door-auth", "api-tls-credentials"


@dataclass(frozen=True)
class Envelope:
    provider: str
    event_code: str
    original_code: str
    idempotency_key: str
    received_at: datetime
    raw: bytes
    content_type: str
    status: str = RECEIVED
    occurred_at: datetime | None = None
    #: Celcoin entity from the URL path (one URL per entity), when the body has none.
    entity: str | None = None
    #: Provider delivery headers worth keeping (delivery id, environment, event header).
    delivery: dict[str, str] = field(default_factory=dict)
    #: Validation errors of a quarantined body (marshmallow's ``err.messages`` shape).
    errors: Any = None
    request_id: str | None = None
    source: str = WEBHOOK
    trust: str = TRUST_DOOR
    #: Parsed payload with Decimal amounts; rebuilt from ``raw`` by the worker, never queued.
    payload: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def job_id(self) -> str:
        """The event's id on the queue and in every log line (``event_id``): see ``job_id_for``."""
        return self.job_id_for(self.provider, self.idempotency_key)

    @staticmethod
    def job_id_for(provider: str, idempotency_key: str) -> str:
        """Deterministic job id: a redelivery maps to the same id (RQ allows [A-Za-z0-9_-])."""
        return f"{provider}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}"

    def to_meta(self) -> dict[str, Any]:
        """Everything but the body: the inbox stream carries the raw bytes beside it, unencoded."""
        return {
            "v": 1,
            "provider": self.provider,
            "event_code": self.event_code,
            "original_code": self.original_code,
            "idempotency_key": self.idempotency_key,
            "received_at": self.received_at.isoformat(),
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "content_type": self.content_type,
            "status": self.status,
            "entity": self.entity,
            "delivery": dict(self.delivery),
            "errors": self.errors,
            "request_id": self.request_id,
            "source": self.source,
            "trust": self.trust,
        }

    def to_dict(self) -> dict[str, Any]:
        """The RQ job argument (JSON): the metadata plus the body as base64."""
        return {**self.to_meta(), "raw_b64": base64.b64encode(self.raw).decode("ascii")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        return cls.from_meta(data, base64.b64decode(data["raw_b64"]))

    @classmethod
    def from_meta(cls, data: dict[str, Any], raw: bytes) -> Envelope:
        return cls(
            provider=data["provider"],
            event_code=data["event_code"],
            original_code=data["original_code"],
            idempotency_key=data["idempotency_key"],
            received_at=datetime.fromisoformat(data["received_at"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]) if data.get("occurred_at") else None,
            raw=raw,
            content_type=data.get("content_type") or "",
            status=data.get("status", RECEIVED),
            entity=data.get("entity"),
            delivery=dict(data.get("delivery") or {}),
            errors=data.get("errors"),
            request_id=data.get("request_id"),
            source=data.get("source") or WEBHOOK,
            trust=data.get("trust") or TRUST_DOOR,
        )
