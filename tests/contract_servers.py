"""Loopback servers that follow the providers' documented API contracts, for tests and the demo.

Real HTTP servers (werkzeug's ``make_server`` in a thread), not mocks: the sync code talks to them
through httpx exactly as it would to the provider. Each follows what docs/provider-sync.md lists:
paths, query parameters, pagination, auth headers, Kobana's ``ratelimit-*`` headers and a 429 with
``Retry-After``. Knobs let a test make a provider misbehave (rate limit half way, a 503 once).

``python -m tests.contract_servers`` serves all three and prints the variables that point the
service at them (``python -m bench.sync_demo`` runs the whole story with them).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ledger.traffic.bodies import dumps as exact_json


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON as the providers send it: exact decimals written as plain numbers."""
    return Response(
        exact_json(value), status=status, headers=headers or {}, content_type="application/json; charset=utf-8"
    )


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class ContractServer:
    """Common bits: a request log, a lock, and the WSGI entry point dispatching to ``handle``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[Seen] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self.lock:
            self.seen.append(Seen(request.method, request.path, dict(request.args), dict(request.headers)))
            response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:  # pragma: no cover - overridden
        raise NotImplementedError

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]


# --- Kobana -----------------------------------------------------------------------------------


@dataclass
class KobanaDelivery:
    id: int
    uid: str
    event_code: str
    payload: dict[str, Any]
    created_at: datetime
    status: str = "failed"  # the list answers with words; the filter takes 0/1/2
    webhook_id: int = 1


class KobanaServer(ContractServer):
    """``/v1/webhooks`` and ``/v1/webhook_deliveries`` as kobana-api-specs documents them."""

    STATUS_FILTER = {"0": "pending", "1": "delivered", "2": "failed"}

    def __init__(self, token: str, *, get_limit: int = 60) -> None:
        super().__init__()
        self.token = token
        self.get_limit = get_limit
        self.gets = 0
        #: A 429 (Retry-After 3600) once this many GETs were served: someone else spent the hour.
        self.exhaust_after: int | None = None
        self.webhooks: list[dict[str, Any]] = []
        self.deliveries: list[KobanaDelivery] = []

    def add_failed(self, payload: dict[str, Any], created_at: datetime, uid: str | None = None) -> KobanaDelivery:
        delivery = KobanaDelivery(
            len(self.deliveries) + 1, uid or str(uuid.uuid4()), str(payload.get("event_code")), payload, created_at
        )
        self.deliveries.append(delivery)
        return delivery

    def add_webhook(self, url: str, events: list[str]) -> dict[str, Any]:
        hook = {
            "id": len(self.webhooks) + 1,
            "url": url,
            "events": events,
            "content_type": "application/json",
            "active": True,
            "ssl_verification_enabled": True,
        }
        self.webhooks.append(hook)
        return hook

    def new_hour(self) -> None:
        self.gets = 0
        self.exhaust_after = None

    def _limits(self) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.get_limit),
            "ratelimit-remaining": str(max(0, self.get_limit - self.gets)),
            "ratelimit-reset": "3600",
            "ratelimit-name": "throttle_authenticated_api",
        }

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"error": "Unauthorized"}, 401)
        if request.method == "GET":
            over = self.gets >= self.get_limit or (self.exhaust_after is not None and self.gets >= self.exhaust_after)
            if over:
                headers = {**self._limits(), "ratelimit-remaining": "0", "retry-after": "3600"}
                return _json({"error": "GET request limit per hour exceeded for this user."}, 429, headers)
            self.gets += 1
        page = max(1, int(request.args.get("page", "1")))
        per_page = int(request.args.get("per_page", "25"))
        if per_page > 50:
            return _json({"errors": [{"code": "invalid", "title": "per_page deve ser no máximo 50"}]}, 422)
        if request.path == "/v1/webhooks" and request.method == "GET":
            return _json(self.webhooks[(page - 1) * per_page : page * per_page], headers=self._limits())
        if request.path == "/v1/webhooks" and request.method == "POST":
            body = json.loads(request.get_data())
            hook = self.add_webhook(body["url"], body.get("events", []))
            return _json({**hook, "secret_key": secrets.token_hex(32)}, 201, self._limits())
        if request.path == "/v1/webhook_deliveries" and request.method == "GET":
            wanted = self.STATUS_FILTER.get(request.args.get("status", ""), None)
            hook = request.args.get("webhook_id")
            rows = [
                d
                for d in reversed(self.deliveries)  # newest first
                if (wanted is None or d.status == wanted) and (hook is None or str(d.webhook_id) == hook)
            ]
            return _json(
                [self._delivery(d) for d in rows[(page - 1) * per_page : page * per_page]], headers=self._limits()
            )
        return _json({"error": "Not Found"}, 404)

    @staticmethod
    def _delivery(d: KobanaDelivery) -> dict[str, Any]:
        stamp = d.created_at.isoformat()
        return {
            "id": d.id, "uid": d.uid, "url": None, "duration": None, "request_headers": None,
            "request_payload": d.payload, "request_error": None, "response_body": "", "response_code": 503,
            "response_headers": None, "response_message": "Service Unavailable", "delivered_at": None,
            "first_try": stamp, "fails_count": 8, "failed_at": stamp, "status": d.status,
            "bank_billet_account_id": None, "content_type": "application/json", "webhook_id": d.webhook_id,
            "event_code": d.event_code, "resource_owner_id": 54, "created_at": stamp, "updated_at": stamp,
            "resource_owner": {"uid": str(uuid.uuid4()), "type": "bank_billet"},
        }  # fmt: skip


# --- Transfeera -------------------------------------------------------------------------------


class TransfeeraServer(ContractServer):
    """``/authorization`` (login host), ``/webhook`` and ``/webhook/event`` with 0-based pages."""

    def __init__(self, client_id: str, client_secret: str, *, per_page: int = 2) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.per_page = per_page
        self.tokens: set[str] = set()
        self.webhooks: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # {"envelope": ..., "delivered": bool}
        #: Answer the next events call with 429 Retry-After: 1 (or 503) this many times.
        self.throttle = 0
        self.unavailable = 0

    def add_undelivered(self, envelope: dict[str, Any]) -> None:
        self.events.append({"envelope": envelope, "delivered": False})

    def handle(self, request: Request) -> Response:
        if request.path == "/authorization" and request.method == "POST":
            body = json.loads(request.get_data() or b"{}")
            if (body.get("client_id"), body.get("client_secret"), body.get("grant_type")) != (
                self.client_id, self.client_secret, "client_credentials"
            ):  # fmt: skip
                return _json({"statusCode": 401, "error": "Unauthorized", "message": "Invalid credentials"}, 401)
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return _json({"access_token": token, "token_type": "Bearer", "expires_in": 1800})
        if not request.headers.get("User-Agent"):
            return _json({"message": "User-Agent header is required"}, 400)
        if request.headers.get("Authorization") not in self.tokens:
            return _json({"statusCode": 401, "error": "Unauthorized"}, 401)
        if request.path == "/webhook" and request.method == "GET":
            return _json(self.webhooks)
        if request.path == "/webhook" and request.method == "POST":
            body = json.loads(request.get_data())
            hook = {"id": str(uuid.uuid4()), "url": body["url"], "object_types": body.get("object_types", []),
                    "signature_secret": secrets.token_hex(32)}  # fmt: skip
            self.webhooks.append(hook)
            return _json({"id": hook["id"], "signature_secret": hook["signature_secret"]})
        if request.path == "/webhook/event" and request.method == "GET":
            if self.throttle:
                self.throttle -= 1
                return _json({"message": "Too Many Requests"}, 429, {"Retry-After": "1"})
            if self.unavailable:
                self.unavailable -= 1
                return _json({"message": "Service Unavailable"}, 503)
            start = datetime.fromisoformat(request.args["initialDate"]).date()
            end = datetime.fromisoformat(request.args["endDate"]).date()
            delivered = request.args.get("delivered")
            rows = [
                e for e in self.events
                if start <= datetime.fromisoformat(e["envelope"]["date"].replace("Z", "+00:00")).date() <= end
                and (delivered is None or str(e["delivered"]).lower() == delivered)
            ]  # fmt: skip
            page = int(request.args.get("page", "0"))
            chunk = rows[page * self.per_page : (page + 1) * self.per_page]
            total_pages = max(1, -(-len(rows) // self.per_page))
            items = [self._item(e) for e in chunk]
            meta = {"pagination": {"itemsPerPage": self.per_page, "totalItems": len(rows), "totalPages": total_pages}}
            return _json({"data": items, "metadata": meta})
        return _json({"message": "Not Found"}, 404)

    @staticmethod
    def _item(event: dict[str, Any]) -> dict[str, Any]:
        envelope = event["envelope"]
        return {
            "id": envelope["id"],
            "object_type": envelope["object"],
            "delivered": event["delivered"],
            "attempts": 3,
            "created_at": envelope["date"],
            "payload": envelope,
        }


# --- Celcoin ----------------------------------------------------------------------------------


class CelcoinServer(ContractServer):
    """``/v5/token`` (multipart) and the BaaS webhook manager: subscriptions and replay."""

    BASE = "/baas-webhookmanager/v1/webhook"

    def __init__(self, client_id: str, client_secret: str) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: set[str] = set()
        self.subscriptions: dict[str, dict[str, Any]] = {}
        #: entity → [(created_at, body)] webhooks Celcoin could not deliver yet.
        self.pending: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
        #: Called with (url, body, auth) for every webhook a PUT replay resends (the demo POSTs it).
        self.deliver: Callable[[str, bytes, tuple[str, str]], None] | None = None

    def handle(self, request: Request) -> Response:
        if request.path == "/v5/token" and request.method == "POST":
            form = request.form
            if (form.get("client_id"), form.get("client_secret"), form.get("grant_type")) != (
                self.client_id, self.client_secret, "client_credentials"
            ):  # fmt: skip
                return _json({"error": "invalid_client"}, 401)
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return _json({"access_token": token, "expires_in": 2400, "token_type": "bearer"})
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return _json({"message": "Unauthorized"}, 401)
        if request.path == f"{self.BASE}/subscription" and request.method == "GET":
            subs = [{**s, "auth": {**s["auth"], "pwd": "***"}} for s in self.subscriptions.values()]
            return _json({"version": "1.0.0", "status": "SUCCESS", "body": {"subscriptions": subs}})
        if request.path == f"{self.BASE}/subscription" and request.method == "POST":
            body = json.loads(request.get_data())
            if body["entity"] in self.subscriptions:
                error = {"errorCode": "CBE205", "message": "Cliente já possui webhook cadastrado com esse evento"}
                return _json({"version": "1.0.0", "status": "ERROR", "error": error}, 400)
            now = datetime.now(UTC).isoformat()
            self.subscriptions[body["entity"]] = {
                "subscriptionId": uuid.uuid4().hex[:24], "entity": body["entity"], "webhookUrl": body["webhookUrl"],
                "active": True, "createDate": now, "lastUpdateDate": now, "auth": body["auth"],
            }  # fmt: skip
            return _json({"version": "1.0.0", "status": "SUCCESS"})
        if request.path.startswith(f"{self.BASE}/replay/"):
            entity = request.path.rsplit("/", 1)[1]
            since = datetime.fromisoformat(request.args["DateFrom"])
            until = datetime.fromisoformat(request.args["DateTo"])
            waiting = [(t, b) for t, b in self.pending.get(entity, []) if since <= t <= until]
            if request.method == "GET":
                body = {"onlyPending": True, "entity": entity, "dateFrom": request.args["DateFrom"],
                        "dateTo": request.args["DateTo"], "totalItems": len(waiting)}  # fmt: skip
                return _json({"body": body, "status": "SUCCESS", "version": "1.0.0"})
            if request.method == "PUT":
                sub = self.subscriptions.get(entity)
                for item in waiting:
                    self.pending[entity].remove(item)
                    if self.deliver and sub:
                        self.deliver(sub["webhookUrl"], exact_json(item[1]), (sub["auth"]["login"], sub["auth"]["pwd"]))
                return _json({"version": "1.0.0", "status": "SUCCESS"})
        return _json({"message": "Not Found"}, 404)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL; always shut down."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def main() -> None:
    """Serve the three contract servers until Ctrl-C, with demo credentials."""
    import time

    servers = {
        "KOBANA": KobanaServer("demo-kobana-token"),
        "TRANSFEERA": TransfeeraServer("demo-tf", "demo-tf-secret"),
        "CELCOIN": CelcoinServer("demo-cc", "demo-cc-secret"),
    }
    with serving(servers["KOBANA"]) as k, serving(servers["TRANSFEERA"]) as t, serving(servers["CELCOIN"]) as c:
        print(f"export KOBANA_API_URL={k} KOBANA_API_TOKEN=demo-kobana-token")
        print(f"export TRANSFEERA_API_URL={t} TRANSFEERA_AUTH_URL={t}/authorization")
        print("export TRANSFEERA_CLIENT_ID=demo-tf TRANSFEERA_CLIENT_SECRET=demo-tf-secret")
        print(f"export CELCOIN_API_URL={c} CELCOIN_CLIENT_ID=demo-cc CELCOIN_CLIENT_SECRET=demo-cc-secret")
        print("serving; Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
