"""Send a generated month of signed provider traffic to a running service, over real HTTP.

Signs exactly as the providers do, with the same helpers the door verifies against
(``providers.kobana.sign``, ``providers.transfeera.sign``, ``providers.celcoin.sign``).
Standard library only: the demo needs nothing the service does not already have.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping

from config import Secrets, Settings
from ledger.traffic import Delivery
from providers import celcoin, kobana, transfeera


def headers_for(delivery: Delivery, settings: Settings) -> dict[str, str]:
    """The headers the provider would send with this body, signed with the configured credentials."""
    headers = {"Content-Type": "application/json", "User-Agent": "webhook-receiver-demo"}
    if delivery.provider == "kobana":
        headers.update(kobana.sign(delivery.body, settings.kobana_secrets or Secrets([b""]), time.time()))
        headers["X-Kobana-Event"] = delivery.event_code
        headers["X-Kobana-Environment"] = "sandbox"
        if delivery.delivery_id:
            headers["X-Kobana-Delivery-Id"] = delivery.delivery_id
    elif delivery.provider == "transfeera":
        headers.update(transfeera.sign(delivery.body, settings.transfeera_secrets or Secrets([b""]), time.time()))
    elif settings.celcoin is not None:
        headers.update(celcoin.sign(delivery.body, settings.celcoin, time.time()))
    return headers


def path_for(delivery: Delivery) -> str:
    return f"/webhooks/{delivery.provider}" + (f"/{delivery.entity}" if delivery.entity else "")


def send(deliveries: Iterable[Delivery], base_url: str, settings: Settings, timeout: float = 10) -> Mapping[str, int]:
    """POST every delivery; returns how many got each answer (``200 accepted``, ``200 duplicate``...)."""
    outcomes: Counter[str] = Counter()
    for delivery in deliveries:
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own service
            base_url.rstrip("/") + path_for(delivery),
            data=delivery.body,
            headers=headers_for(delivery, settings),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                outcomes[f"{response.status} {_status(response.read())}"] += 1
        except urllib.error.HTTPError as exc:
            outcomes[f"{exc.code} {_status(exc.read())}"] += 1
    return outcomes


def _status(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return "non-json"
    return str(data.get("status") or data.get("error") or "?")
