"""Provider-made strings cut to fit the ``events`` columns, deterministically, so a redelivery
maps to the same row: an overlong key becomes its SHA-256, an overlong code is cut and tagged."""

from __future__ import annotations

import dataclasses
import hashlib

from schemas.envelope import Envelope

#: Column sizes of ``events.idempotency_key`` and the two code columns.
MAX_KEY = MAX_CODE = 255


def bounded(envelope: Envelope) -> Envelope:
    """The envelope with its idempotency key and codes fitting their columns."""
    key, code, original = envelope.idempotency_key, envelope.event_code, envelope.original_code
    if len(key) <= MAX_KEY and len(code) <= MAX_CODE and len(original) <= MAX_CODE:
        return envelope
    return dataclasses.replace(
        envelope, idempotency_key=bounded_key(key), event_code=bounded_code(code), original_code=bounded_code(original)
    )


def bounded_key(key: str) -> str:
    return key if len(key) <= MAX_KEY else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def bounded_code(code: str) -> str:
    return code if len(code) <= MAX_CODE else code[:200] + "#" + hashlib.sha256(code.encode()).hexdigest()[:16]
