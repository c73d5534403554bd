"""Celcoin's BaaS webhook manager: subscriptions, and the replay API that resends pending webhooks.

Sources (docs/provider-sync.md): developers.celcoin.com.br [DOC] for the token
(``POST /v5/token``, multipart ``client_id``/``client_secret``/``grant_type``), subscriptions
(``/baas-webhookmanager/v1/webhook/subscription``, one per entity, ``CBE205`` when it exists) and
the count ``GET /baas-webhookmanager/v1/webhook/replay/{entity}?DateFrom&DateTo&OnlyPending``
(answer ``{body: {totalItems}}``); the page lists "Reenviar Webhook" but its request was not
readable, so the resend call ``PUT …/replay/{entity}`` with the same query rests on a third party
(``contbank/celcoin-sdk``). Resend and detail work only up to 7 days after the transaction [DOC].

Production needs mTLS (``CELCOIN_CLIENT_CERT``/``CELCOIN_CLIENT_KEY``) and an IP allowlist.
Resent webhooks come back through the door, Basic-authenticated as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from config import Settings
from providers.api.http import ApiClient, ApiError, OAuthToken, items_of

NAME = "celcoin"
BASE = "/baas-webhookmanager/v1/webhook"
#: Celcoin resends (and details) webhooks only up to this long after the transaction [DOC].
REPLAY_LIMIT = timedelta(days=7)
ALREADY_SUBSCRIBED = "CBE205"
#: Entities ``register`` subscribes when ``--events`` is not given (what the ledger reads).
DEFAULT_EVENTS = (
    "pix-payment-in",
    "pix-payment-out",
    "pix-reversal-in",
    "pix-reversal-out",
    "spb-transfer-in",
    "spb-transfer-out",
)


@dataclass(frozen=True)
class Subscription:
    entity: str
    url: str
    active: bool
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "events": [self.entity], "active": self.active}


def client(settings: Settings, **options: Any) -> ApiClient:
    cert = None
    if settings.celcoin_client_cert and settings.celcoin_client_key:
        cert = (settings.celcoin_client_cert, settings.celcoin_client_key)
    return ApiClient(
        settings.celcoin_api_url,
        name="celcoin",
        user_agent=settings.provider_api_user_agent,
        secrets=[settings.celcoin_client_secret],
        cert=cert,
        **options,
    )


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class CelcoinApi:
    def __init__(self, settings: Settings, http: ApiClient) -> None:
        self.http = http
        self._settings = settings
        self.token = OAuthToken(self._fetch_token, now=http.now)

    def _fetch_token(self) -> tuple[str, float]:
        form = {
            "client_id": (None, self._settings.celcoin_client_id or ""),
            "client_secret": (None, self._settings.celcoin_client_secret or ""),
            "grant_type": (None, "client_credentials"),
        }
        body = self.http.json("POST", "/v5/token", files=form)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ApiError("celcoin token: no access_token in the answer")
        self.http.add_secret(str(token))
        return str(token), float(body.get("expires_in") or 2400)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            try:
                headers = {"Authorization": f"Bearer {self.token.get()}"}
                return self.http.json(method, path, headers=headers, **kwargs)
            except ApiError as exc:
                if exc.status != 401 or attempt == 2:
                    raise
                self.token.invalidate()
        raise AssertionError("unreachable")  # pragma: no cover

    def subscriptions(self) -> list[Subscription]:
        body = self._call("GET", f"{BASE}/subscription")
        items = items_of(body, "subscriptions")
        if not items and isinstance(body, dict) and isinstance(body.get("body"), dict):
            items = [body["body"]]  # the documented answer: one subscription object under body
        found = []
        for item in items:
            if isinstance(item, dict) and item.get("entity"):
                found.append(
                    Subscription(
                        entity=str(item["entity"]),
                        url=str(item.get("webhookUrl") or item.get("url") or ""),
                        active=item.get("active") not in (False, "false", 0),
                        id=str(item["subscriptionId"]) if item.get("subscriptionId") else None,
                    )
                )
        return found

    def subscribe(self, entity: str, url: str, login: str, password: str) -> bool:
        """Subscribe ``entity`` to ``url``; False if Celcoin says one already exists (CBE205)."""
        try:
            self._call(
                "POST",
                f"{BASE}/subscription",
                json_body={
                    "entity": entity,
                    "webhookUrl": url,
                    "auth": {"login": login, "pwd": password, "type": "basic"},
                },
            )
        except ApiError as exc:
            if ALREADY_SUBSCRIBED in str(exc):
                return False
            raise
        return True

    def pending_count(self, entity: str, since: datetime, until: datetime) -> int:
        body = self._call(
            "GET",
            f"{BASE}/replay/{entity}",
            params={"DateFrom": _stamp(since), "DateTo": _stamp(until), "OnlyPending": "true"},
        )
        inner = body.get("body") if isinstance(body, dict) else None
        total = (inner or body or {}).get("totalItems") if isinstance(inner or body, dict) else None
        try:
            return int(total or 0)
        except (TypeError, ValueError):
            return 0

    def resend(self, entity: str, since: datetime, until: datetime) -> None:
        """Ask Celcoin to resend the window's pending webhooks of ``entity`` (they come to the door)."""
        self._call(
            "PUT",
            f"{BASE}/replay/{entity}",
            params={"DateFrom": _stamp(since), "DateTo": _stamp(until), "OnlyPending": "true"},
        )
