"""The signed-test sender: what a provider's dashboard "send test" button does, from a terminal.

``prepare`` builds the request a provider would send for an event: a realistic body (a template
shipped in ``sender/templates/<provider>/<event>.json``, or the operator's file), fresh
identifiers so that every send is a new event, and the provider's own authentication made with
the configured secret (``providers.<name>.sign``). ``post`` sends it and times it. The CLI is in
``web/cli/webhooks.py``.

Amounts are never turned into floats on the way: numbers are copied from the template's text.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from config import Secrets, Settings
from providers import celcoin, kobana, transfeera

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Namespace of ``--as-is`` Kobana delivery ids (uuid5 of the body's SHA-256).
_AS_IS = uuid.UUID("5b0f0c1e-3f6a-4c1b-9d7e-2a4b6c8d0e1f")


class SendError(Exception):
    """The request could not be built (unknown event, no credentials) or sent at all."""


@dataclass(frozen=True)
class Prepared:
    path: str
    raw: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Result:
    status: int
    body: str
    seconds: float


class ProviderSender(Protocol):
    name: str

    def path(self, event: str) -> str: ...

    def freshen(self, data: Any, event: str) -> Any:
        """A copy of the body with new identifiers, so the service sees a new event."""

    def headers(self, raw: bytes, event: str, settings: Settings, now: float, fresh: bool) -> dict[str, str]:
        """Authentication (and delivery headers) exactly as the provider sends them; not ``fresh``,
        a repeat of the same body must be the same notification (a duplicate)."""


#: Senders by provider name, registered with ``@register``.
SENDERS: dict[str, ProviderSender] = {}


def register(cls: type[Any]) -> type[Any]:
    SENDERS[cls.name] = cls()
    return cls


@register
class KobanaSender:
    """Kobana identifies a notification by ``X-Kobana-Delivery-Id``; the body stays as documented.

    A fresh send gets a new delivery id (a new notification); ``--as-is`` derives it from the
    bytes, as a Kobana resend keeps it, so sending the same body again is a duplicate.
    """

    name = kobana.NAME

    def path(self, event: str) -> str:
        return "/webhooks/kobana"

    def freshen(self, data: Any, event: str) -> Any:
        return data

    def headers(self, raw: bytes, event: str, settings: Settings, now: float, fresh: bool) -> dict[str, str]:
        secrets = _required(settings.kobana_secrets, "KOBANA_WEBHOOK_SECRET")
        delivery = uuid.uuid4() if fresh else uuid.uuid5(_AS_IS, hashlib.sha256(raw).hexdigest())
        return {
            "X-Kobana-Delivery-Id": str(delivery),
            "X-Kobana-Event": event,
            "X-Kobana-Environment": "sandbox",
            **kobana.sign(raw, secrets, now),
        }


@register
class TransfeeraSender:
    """Transfeera's envelope ``id`` is the event's identity; ``t`` is now, in milliseconds."""

    name = transfeera.NAME

    def path(self, event: str) -> str:
        return "/webhooks/transfeera"

    def freshen(self, data: Any, event: str) -> Any:
        if isinstance(data, dict):
            data = {**data, "id": str(uuid.uuid4())}
        return data

    def headers(self, raw: bytes, event: str, settings: Settings, now: float, fresh: bool) -> dict[str, str]:
        return transfeera.sign(raw, _required(settings.transfeera_secrets, "TRANSFEERA_WEBHOOK_SECRET"), now)


@register
class CelcoinSender:
    """Celcoin subscribes a URL per entity (hence the path); the body's first id is renewed."""

    name = celcoin.NAME

    def path(self, event: str) -> str:
        return f"/webhooks/celcoin/{event}"

    def freshen(self, data: Any, event: str) -> Any:
        if not isinstance(data, dict):
            return data
        inner = data.get("body")
        if isinstance(inner, dict):
            return {**data, "body": _renew_first_id(inner)}
        return _renew_first_id(data)

    def headers(self, raw: bytes, event: str, settings: Settings, now: float, fresh: bool) -> dict[str, str]:
        if settings.celcoin is None:
            raise SendError("CELCOIN_WEBHOOK_USERNAME/CELCOIN_WEBHOOK_PASSWORD are not set")
        return celcoin.sign(raw, settings.celcoin, now)


def _renew_first_id(body: dict[str, Any]) -> dict[str, Any]:
    for key in celcoin.ID_KEYS:
        if key in body:
            value = body[key]
            numeric = isinstance(value, _Number | int)
            fresh = random.randint(10**8, 10**9) if numeric else str(uuid.uuid4())  # noqa: S311
            return {**body, key: fresh}
    return body


def _required(secrets: Secrets | None, variable: str) -> Secrets:
    if not secrets:
        raise SendError(f"{variable} is not set: the sender signs with the service's own secret")
    return secrets


def events(provider: str) -> list[str]:
    """The event names that have a template for ``provider``."""
    return sorted(p.name.removesuffix(".json") for p in (TEMPLATES / provider).glob("*.json"))


def template(provider: str, event: str) -> bytes:
    path = TEMPLATES / provider / f"{event}.json"
    if event not in events(provider):
        raise SendError(f"no template for {provider} {event!r}; known: {', '.join(events(provider))} (or use --file)")
    return path.read_bytes()


def prepare(
    provider: str,
    event: str,
    settings: Settings,
    *,
    raw: bytes | None = None,
    fresh: bool = True,
    now: float | None = None,
) -> Prepared:
    """The request ``provider`` would send for ``event``: body, fresh ids, authentication."""
    spec = SENDERS.get(provider)
    if spec is None:
        raise SendError(f"unknown provider {provider!r}; known: {', '.join(sorted(SENDERS))}")
    body = template(provider, event) if raw is None else raw
    if fresh:
        body = compact(spec.freshen(loads(body), event))
    headers = {"Content-Type": "application/json", **spec.headers(body, event, settings, now or time.time(), fresh)}
    return Prepared(spec.path(event), body, headers)


def post(base_url: str, prepared: Prepared, timeout: float = 10.0) -> Result:
    """POST the prepared bytes verbatim; any HTTP status is a result, a dead socket a SendError."""
    url = base_url.rstrip("/") + prepared.path
    request = urllib.request.Request(url, data=prepared.raw, headers=prepared.headers, method="POST")  # noqa: S310
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator's URL
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SendError(f"could not reach {url}: {getattr(exc, 'reason', exc)}") from None
    return Result(status, body.decode("utf-8", "replace").strip(), time.perf_counter() - started)


# --- JSON without floats: numbers travel as the template's own text -------------------------


class _Number(str):
    """A JSON number kept as its source text."""


_MARK = "\u0000num:"
_MARKED = re.compile(r'"\\u0000num:([-+0-9.eE]+)"')


def loads(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=_Number, parse_int=_Number)
    except ValueError as exc:
        raise SendError(f"body is not JSON ({exc}); use --as-is to send it verbatim") from None


def compact(data: Any) -> bytes:
    """Compact JSON, the way providers put it on the wire, numbers byte-for-byte as parsed."""
    text = json.dumps(_mark(data), separators=(",", ":"), ensure_ascii=False)
    return _MARKED.sub(lambda m: m[1], text).encode()


def _mark(value: Any) -> Any:
    if isinstance(value, _Number):
        return _MARK + value
    if isinstance(value, int) and not isinstance(value, bool):
        return _MARK + str(value)
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v) for v in value]
    return value
