"""The bodies we send: Kobana's real ``bank_billet.paid`` sample, compact, as Kobana sends it.

Sized variants keep every field the schema reads and change only the free-text ``notes`` (or
drop optional customer fields for a 1 KB body), so each size is still a valid, authentic event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from config import Secrets
from providers import kobana

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "samples" / "kobana" / "bank_billet.paid.json"
SECRET = "bench-kobana-secret-0123456789abcdef"
#: Fields a sized-down body keeps: the ones the schema and the ledger read.
_KEEP = {"id", "uid", "status", "amount", "paid_amount", "paid_at", "expire_at", "updated_at", "bank_billet_payments"}


def _compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def paid(size: int | None = None) -> bytes:
    """The sample as compact JSON; with ``size``, exactly ``size`` bytes long."""
    data = json.loads(SAMPLE.read_text())
    if size is None:
        return _compact(data)
    obj = data["object"]
    if len(_compact(data)) > size:
        data["object"] = obj = {k: v for k, v in obj.items() if k in _KEEP}
        data["changes"] = {}
    obj["notes"] = ""
    missing = size - len(_compact(data))
    if missing < 0:
        raise ValueError(f"cannot shrink the sample to {size} bytes")
    obj["notes"] = "x" * missing
    raw = _compact(data)
    assert len(raw) == size
    return raw


def signature(raw: bytes, secret: str = SECRET) -> str:
    """Kobana's header value; checked against the provider module's own signer."""
    value = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert kobana.sign(raw, Secrets([secret.encode()]), 0)["X-Kobana-Signature"] == value
    return value
