"""Helpers for ledger tests: sample bodies tweaked like a provider would, folded without a database."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import providers
from ledger.facts import Fact, Source, facts_from
from ledger.fold import ObjectState, fold
from tests.helpers import SAMPLES


def body(provider: str, name: str, **changes: Any) -> dict[str, Any]:
    """A documented sample with dotted-path changes applied, e.g. ``**{"object.status": "opened"}``."""
    data = json.loads((SAMPLES / provider / name).read_text(), parse_float=Decimal)
    for path, value in changes.items():
        target = data
        *parents, leaf = path.split(".")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return data


def raw(data: dict[str, Any]) -> bytes:
    from ledger.traffic.bodies import dumps

    return dumps(data)


def facts(provider: str, data: dict[str, Any], key: str, entity: str | None = None) -> list[Fact]:
    """What the ledger learns from one delivery, parsed by the provider's real code."""
    module = providers.PROVIDERS[provider]
    headers = {"X-Kobana-Delivery-Id": key} if provider == "kobana" else {}
    described = providers.describe(module, headers, raw(data), "application/json", entity)
    source = Source(provider, described.event_code, described.payload, key, described.idempotency_key,
                    described.occurred_at, datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
    return facts_from(source)


def fold_all(deliveries: list[tuple[str, dict[str, Any], str]]) -> dict[str, ObjectState]:
    grouped: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for provider, data, key in deliveries:
        for fact in facts(provider, data, key):
            grouped[(fact.object_id, fact.kind)].append(fact)
    return {object_id: fold(group) for (object_id, _), group in grouped.items()}
