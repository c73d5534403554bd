"""What every provider module is (``Provider``) and what it tells the door about a body (``Described``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from config import Settings


class Headers(Protocol):
    """What a provider reads of a request's headers: a case-insensitive ``get`` (werkzeug's
    ``Headers``), or a plain dict (replay, tests)."""

    def get(self, key: str, /) -> str | None: ...


#: A provider's credentials: ``Secrets`` for the HMAC providers, ``CelcoinCreds`` for Basic.
Creds = TypeVar("Creds")


@dataclass(frozen=True)
class Described:
    event_code: str
    original_code: str
    idempotency_key: str
    occurred_at: datetime | None
    status: str
    payload: dict[str, Any]


class Provider(Protocol[Creds]):
    """A provider module: a complete unit, with no Flask inside, tested as pure functions over
    headers and bytes. The generic code (the door, replay, the sender) asks it, never its name."""

    @property
    def NAME(self) -> str:
        """The name in its URL: ``/webhooks/<NAME>``."""

    @property
    def UNAUTHENTICATED_STATUS(self) -> int:
        """The status a refused request gets (Kobana wants 498)."""

    @property
    def UNAVAILABLE_STATUS(self) -> int:
        """The status when the event cannot be queued (Redis down): one the provider retries.

        Kobana retries only a 500 (and timeouts, TLS errors): a 503 there is an event it never sends again.
        """

    @property
    def ENTITY_IN_PATH(self) -> bool:
        """True when the provider registers one URL per entity: ``/webhooks/<NAME>/<entity>``."""

    @property
    def CHALLENGE(self) -> str | None:
        """The ``WWW-Authenticate`` value sent with a refusal, if the scheme has one."""

    def credentials(self, settings: Settings) -> Creds | None:
        """The configured credentials; None when the provider is disabled."""

    def is_probe(self, headers: Headers, raw: bytes) -> bool:
        """A registration test that must get a 2xx and cause nothing (checked before authentication)."""

    def authenticate(self, headers: Headers, raw: bytes, settings: Settings, now: float) -> None:
        """Raise ``Unauthenticated`` unless the request provably comes from the provider."""

    def sign(self, raw: bytes, creds: Creds, now: float) -> dict[str, str]:
        """The headers the provider would send with ``raw`` at ``now`` (what ``authenticate`` accepts)."""

    def parse(self, raw: bytes, content_type: str) -> dict[str, Any]:
        """Bytes → dict with Decimal amounts; raises ``Invalid``."""

    def describe(self, payload: dict[str, Any], headers: Headers, raw: bytes, entity: str | None) -> Described:
        """The validated payload, its event code and idempotency key; raises ``ValidationError``/``Invalid``."""

    def fallback_key(self, headers: Headers, raw: bytes) -> str:
        """The idempotency key of a body that fails validation."""

    def code_hint(self, headers: Headers) -> str | None:
        """The event code of a body that fails validation, when a header tells it."""

    def delivery_headers(self, headers: Headers) -> dict[str, str]:
        """Delivery headers worth keeping with the event (``Envelope.delivery``)."""

    def headers_from_delivery(self, delivery: Mapping[str, str]) -> dict[str, str]:
        """The request headers back from what ``delivery_headers`` kept, so replay re-describes
        the stored body exactly as the door did."""
