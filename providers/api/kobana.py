"""Kobana's API: webhooks and the deliveries Kobana gave up on.

Sources (docs/provider-sync.md): ``universokobana/kobana-api-specs`` (Kobana's own OpenAPI and
docs): ``GET/POST /v1/webhooks``, ``GET /v1/webhook_deliveries`` (filters ``status`` 0/1/2,
``page``, ``per_page`` ≤ 50; a bare JSON array, newest first; ``status`` comes back as a word),
rate limits (60 GET and 1000 POST per hour, ``ratelimit-*`` and ``retry-after`` headers).

Quirks: auth is ``Authorization: Bearer <token>``; the list has no date filter, so a window is
applied on our side while walking pages newest first; ``secret_key`` is returned only by the
create call, so ``register`` must print it then or never.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config import Settings
from providers.api.http import ApiClient, Webhook, items_of
from providers.timeparse import parse_timestamp

NAME = "kobana"
PER_PAGE = 50  # the documented maximum
#: Delivery status as the filter takes it, and the words the list answers with.
FAILED = 2
_FAILED_WORDS = {"2", "failed", "fail", "falhou"}
#: Events ``register`` subscribes to when ``--events`` is not given (what the ledger reads).
DEFAULT_EVENTS = ("bank_billet.paid", "bank_billet.canceled", "pix.paid", "pix.register.confirmed")


@dataclass(frozen=True)
class Delivery:
    """One failed delivery: its uid is the ``X-Kobana-Delivery-Id`` the door keys events by."""

    id: int
    uid: str
    webhook_id: str | None
    event_code: str | None
    payload: Any  # the request body Kobana tried to send (a dict; a str for form bodies)
    content_type: str
    created_at: datetime | None


def client(settings: Settings, **options: Any) -> ApiClient:
    return ApiClient(
        settings.kobana_api_url,
        name="kobana",
        user_agent=settings.provider_api_user_agent,
        secrets=[settings.kobana_api_token],
        **options,
    )


class KobanaApi:
    def __init__(self, settings: Settings, http: ApiClient) -> None:
        self.http = http
        self._auth = {"Authorization": f"Bearer {settings.kobana_api_token}"}

    def webhooks(self) -> list[Webhook]:
        found: list[Webhook] = []
        page = 1
        while True:
            body = self.http.json(
                "GET", "/v1/webhooks", headers=self._auth, params={"page": page, "per_page": PER_PAGE}
            )
            items = items_of(body, "webhooks")
            found.extend(_webhook(item) for item in items if isinstance(item, dict))
            if len(items) < PER_PAGE:
                return found
            page += 1

    def create_webhook(self, url: str, events: tuple[str, ...]) -> tuple[Webhook, str | None]:
        """Create; returns the webhook and its ``secret_key`` (shown only now, never again)."""
        body = self.http.json(
            "POST",
            "/v1/webhooks",
            headers=self._auth,
            json_body={"url": url, "events": list(events), "content_type": "application/json", "active": True},
        )
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        if isinstance(data.get("webhook"), dict):
            data = data["webhook"]
        return _webhook(data), data.get("secret_key")

    def failed_deliveries(self, page: int, webhook_id: str | None = None) -> list[Delivery]:
        """One page of failed deliveries, newest first (what Kobana documents and answers)."""
        params: dict[str, object] = {"status": FAILED, "page": page, "per_page": PER_PAGE}
        if webhook_id is not None:
            params["webhook_id"] = webhook_id
        body = self.http.json("GET", "/v1/webhook_deliveries", headers=self._auth, params=params)
        deliveries = []
        for item in items_of(body, "webhook_deliveries", "deliveries"):
            delivery = _delivery(item)
            if delivery is not None:
                deliveries.append(delivery)
        return deliveries

    @property
    def gets_left(self) -> int | None:
        return self.http.budget.remaining


def _webhook(item: dict[str, Any]) -> Webhook:
    events = item.get("events") or item.get("event_codes") or ()
    return Webhook(
        id=str(item.get("id", "")),
        url=str(item.get("url", "")),
        events=tuple(str(e) for e in events) if isinstance(events, list | tuple) else (str(events),),
        active=item.get("active") not in (False, "false", 0),
    )


def _delivery(item: Any) -> Delivery | None:
    """A failed delivery we can ingest, or None (not failed, no uid, no payload)."""
    if not isinstance(item, dict):
        return None
    status = str(item.get("status", "")).strip().lower()
    uid = item.get("uid")
    payload = item.get("request_payload")
    if status not in _FAILED_WORDS or not uid or payload in (None, "", {}):
        return None
    stamps = (parse_timestamp(item.get(key)) for key in ("created_at", "first_try", "failed_at"))
    return Delivery(
        id=int(item.get("id") or 0),
        uid=str(uid),
        webhook_id=str(item["webhook_id"]) if item.get("webhook_id") is not None else None,
        event_code=item.get("event_code"),
        payload=payload,
        content_type=str(item.get("content_type") or "application/json"),
        created_at=next((stamp for stamp in stamps if stamp is not None), None),
    )
