"""Transfeera's API: webhook URLs and the events it could not deliver.

Sources (docs/provider-sync.md): the "Autenticação" page of docs.transfeera.dev [DOC] for the
token (``POST {auth}/authorization`` with ``{grant_type, client_id, client_secret}`` →
``{access_token, expires_in}``, sent as ``Authorization: <token>`` with a mandatory
``User-Agent``); ``POST/GET /webhook`` [DOC, GitBook copy]; the events list
``GET /webhook/event?initialDate&endDate&page&delivered&objectType`` rests on a third party
(the ``transfeera`` Ruby gem 0.1.0) and is parsed with that in mind: any list wrapping, any
pagination shape, an event either bare or under ``payload``/``event``/``body``.

We ingest each undelivered event itself (its envelope ``id`` is the door's idempotency key) and
never call the retry endpoint: its body is not documented where we could read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from config import Settings
from providers.api.http import ApiClient, ApiError, OAuthToken, Webhook, items_of
from providers.timeparse import parse_timestamp

NAME = "transfeera"
DEFAULT_EVENTS = ("Transfer", "TransferRefund", "CashIn", "CashInRefund")
#: Pages we read per run at most: a bound on a runaway pagination answer.
MAX_PAGES = 100


@dataclass(frozen=True)
class UndeliveredEvent:
    id: str
    object: str | None
    date: datetime | None
    envelope: dict[str, Any]  # the body Transfeera would have POSTed: {id, version, object, date, data}


def client(settings: Settings, **options: Any) -> ApiClient:
    """One client for both hosts: the token call uses the absolute ``TRANSFEERA_AUTH_URL``."""
    return ApiClient(
        settings.transfeera_api_url,
        name="transfeera",
        user_agent=settings.provider_api_user_agent,
        secrets=[settings.transfeera_client_secret],
        **options,
    )


class TransfeeraApi:
    def __init__(self, settings: Settings, http: ApiClient) -> None:
        self.http = http
        self._settings = settings
        self.token = OAuthToken(self._fetch_token, now=http.now)

    def _fetch_token(self) -> tuple[str, float]:
        body = self.http.json(
            "POST",
            self._settings.transfeera_auth_url,
            json_body={
                "grant_type": "client_credentials",
                "client_id": self._settings.transfeera_client_id,
                "client_secret": self._settings.transfeera_client_secret,
            },
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ApiError("transfeera authorization: no access_token in the answer")
        self.http.add_secret(str(token))
        return str(token), float(body.get("expires_in") or 1800)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call with the cached token; one refresh and retry if Transfeera says 401."""
        for attempt in (1, 2):
            try:
                return self.http.json(method, path, headers={"Authorization": self.token.get()}, **kwargs)
            except ApiError as exc:
                if exc.status != 401 or attempt == 2:
                    raise
                self.token.invalidate()
        raise AssertionError("unreachable")  # pragma: no cover

    def webhooks(self) -> list[Webhook]:
        return [
            _webhook(item) for item in items_of(self._call("GET", "/webhook"), "webhooks") if isinstance(item, dict)
        ]

    def create_webhook(self, url: str, events: tuple[str, ...]) -> tuple[Webhook, str | None]:
        body = self._call("POST", "/webhook", json_body={"url": url, "object_types": list(events)})
        data = body if isinstance(body, dict) else {}
        hook = _webhook({"url": url, "object_types": list(events), **data})
        return hook, data.get("signature_secret")

    def undelivered(self, since: datetime, until: datetime) -> list[UndeliveredEvent]:
        """Every undelivered event dated in [since, until], all pages."""
        found: dict[str, UndeliveredEvent] = {}
        page = 0  # the gem starts at 0
        for _ in range(MAX_PAGES):
            body = self._call(
                "GET",
                "/webhook/event",
                params={
                    # A day more on each side: whose calendar Transfeera's dates are in (UTC or
                    # Brasília) is not documented; the exact window is applied to each event below.
                    "initialDate": (since - timedelta(days=1)).date().isoformat(),
                    "endDate": (until + timedelta(days=1)).date().isoformat(),
                    "page": page,
                    "delivered": "false",
                },
            )
            items = items_of(body, "events")
            for item in items:
                event = _event(item)
                if event is not None and (event.date is None or since <= event.date <= until):
                    found.setdefault(event.id, event)
            if not items or _last_page(body, page):
                break
            page += 1
        return list(found.values())


def _webhook(item: dict[str, Any]) -> Webhook:
    events = item.get("object_types") or item.get("events") or ()
    return Webhook(
        id=str(item.get("id", "")),
        url=str(item.get("url", "")),
        events=tuple(str(e) for e in events) if isinstance(events, list | tuple) else (str(events),),
        active=item.get("active", item.get("enabled", True)) not in (False, "false", 0),
    )


def _event(item: Any) -> UndeliveredEvent | None:
    """The envelope inside one list item, if it has one we can ingest (and it is undelivered)."""
    if not isinstance(item, dict):
        return None
    if item.get("delivered") in (True, "true", 1):
        return None
    envelope: Any = item
    for key in ("payload", "event", "body", "content"):
        candidate = item.get(key)
        if isinstance(candidate, dict) and "object" in candidate:
            envelope = candidate
            break
    if not isinstance(envelope, dict) or not envelope.get("id") or "object" not in envelope:
        return None
    return UndeliveredEvent(
        id=str(envelope["id"]),
        object=envelope.get("object"),
        date=parse_timestamp(envelope.get("date")) or parse_timestamp(item.get("created_at")),
        envelope=envelope,
    )


def _last_page(body: Any, page: int) -> bool:
    """True when the answer says this was the last page (any of the usual shapes), else False."""
    if not isinstance(body, dict):
        return False
    meta = body.get("metadata") or body.get("meta") or body.get("pagination") or body
    if isinstance(meta, dict) and isinstance(meta.get("pagination"), dict):
        meta = meta["pagination"]
    if not isinstance(meta, dict):
        return False
    total = meta.get("totalPages", meta.get("total_pages", meta.get("last_page")))
    if isinstance(total, int):
        return page + 1 >= total
    if "next" in meta or "has_more" in meta:
        return not (meta.get("next") or meta.get("has_more"))
    return False
