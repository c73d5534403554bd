"""What many test files share: the providers' test credentials, their samples, a provider-faithful
sender (``Deliver``) and a look at what waits on the queue. Fixtures stay in ``conftest.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import redis

from config import CelcoinCreds, Secrets
from providers import celcoin, kobana, transfeera
from workers import stream

#: The providers' documented payloads, copied from shared/samples so the suite is self-contained.
SAMPLES = Path(__file__).resolve().parent / "samples"

KOBANA_SECRET = "kobana-test-secret-0123456789abcdef"
TRANSFEERA_SECRET = "transfeera-test-secret-fedcba9876543210"
CELCOIN_USER, CELCOIN_PASSWORD = "celcoin-user", "s3nh@-Celcoin"
#: SECRET_KEY of the web processes the suite starts (the console signs its sessions with it).
SECRET_KEY = "console-test-secret-key-0123456789abcdef"
#: Set in the tests' Redis database: a non-empty database without it is refused, never flushed.
MARKER = "__webhook_receiver_tests__"


def sample(provider: str, name: str) -> bytes:
    """A sample payload as compact JSON, the way providers put it on the wire."""
    data = json.loads((SAMPLES / provider / name).read_text())
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def kobana_signature(raw: bytes, secret: str = KOBANA_SECRET) -> str:
    return kobana.sign(raw, Secrets([secret.encode()]), time.time())["X-Kobana-Signature"]


def transfeera_signature(raw: bytes, secret: str = TRANSFEERA_SECRET, t: int | None = None) -> str:
    """Transfeera's header; ``t`` as sent (milliseconds, or a 10-digit seconds value), now by default."""
    if t is None:
        return transfeera.sign(raw, Secrets([secret.encode()]), time.time())[transfeera.HEADER]
    return f"t={t},v1=" + transfeera.expected(secret.encode(), str(t), raw).hex()


def basic(user: str = CELCOIN_USER, password: str = CELCOIN_PASSWORD) -> str:
    return celcoin.sign(b"", CelcoinCreds(user.encode(), password.encode()), time.time())["Authorization"]


class Deliver:
    """Posts bodies exactly as each provider does: signed or authenticated, raw bytes."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def kobana(
        self,
        raw: bytes,
        *,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        all_headers = {
            "X-Kobana-Signature": kobana_signature(raw) if signature is None else signature,
            **(headers or {}),
        }
        return self.client.post("/webhooks/kobana", data=raw, headers=all_headers, content_type=content_type)

    def transfeera(self, raw: bytes, *, signature: str | None = None, headers: dict[str, str] | None = None) -> Any:
        all_headers = {
            "Transfeera-Signature": transfeera_signature(raw) if signature is None else signature,
            **(headers or {}),
        }
        return self.client.post("/webhooks/transfeera", data=raw, headers=all_headers, content_type="application/json")

    def celcoin(self, raw: bytes, *, entity: str | None = None, authorization: str | None = None) -> Any:
        path = "/webhooks/celcoin" + (f"/{entity}" if entity else "")
        return self.client.post(
            path,
            data=raw,
            headers={"Authorization": basic() if authorization is None else authorization},
            content_type="application/json",
        )


def queued(redis_conn: redis.Redis, kind: str = "events") -> list[dict[str, Any]]:
    """The envelopes waiting on the queue, in order: ``quarantine`` ones, or all the others.

    They wait in the inbox stream, quarantined ones included (workers/stream.py); each is shown
    in the RQ job argument's form (``Envelope.to_dict``: metadata and ``raw_b64``).
    """
    jobs = [stream.decode(fields).to_dict() for _id, fields in redis_conn.xrange(stream.INBOX)]
    return [job for job in jobs if (job["status"] == "quarantined") == (kind == "quarantine")]
