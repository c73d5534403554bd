"""Kobana / Boleto Simples payloads (providers.md §1.5; seed 002 for the event/resource/data shape).

Both envelopes load to the documented one: ``{event_code, webhook, object, changes, errors}``
plus ``occurred_at`` when the body says when the event happened.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from schemas.common import CODE, Lenient, Text, identifier, money


class PaymentSchema(Lenient):
    paid_amount = money()
    bank_rate = money()


class ObjectSchema(Lenient):
    id = identifier()
    uid = identifier()
    amount = money()
    paid_amount = money()
    fine_value = money()
    interest_value = money()
    discount_value = money()
    reduction_amount = money()
    bank_billet_payments = fields.List(fields.Nested(PaymentSchema), load_default=list)


class WebhookSchema(Lenient):
    id = identifier()
    url = Text(load_default=None, allow_none=True)
    first_try = Text(load_default=None, allow_none=True)


class KobanaSchema(Lenient):
    event_code = Text(required=True, validate=CODE)
    webhook = fields.Nested(WebhookSchema, load_default=None, allow_none=True)
    object = fields.Nested(ObjectSchema, load_default=None, allow_none=True)
    changes = fields.Dict(load_default=dict, allow_none=True)
    errors = fields.Raw(load_default=None, allow_none=True)
    occurred_at = Text(load_default=None, allow_none=True)

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None, unknown: Any = None) -> Any:
        """Seed 002's ``{event, resource, data}`` is read as the documented envelope.

        Converted before ``Lenient.load`` (not in a ``pre_load`` hook), so what it keeps of the
        input is the documented envelope, never the seed's keys.
        """
        return super().load(_documented(data), many=many, partial=partial, unknown=unknown)


def _documented(data: Any) -> Any:
    """Seed 002's ``{event, resource, data}`` as ``{event_code, occurred_at, object}``; others as given."""
    if not isinstance(data, dict) or "event_code" in data or not isinstance(data.get("event"), dict):
        return data
    event, resource = data["event"], data.get("resource") or {}
    body = data["data"] if isinstance(data.get("data"), dict) else {}
    obj = dict(body)
    if isinstance(resource, dict):
        obj.setdefault("id", resource.get("id"))
        obj.setdefault("uid", resource.get("uid"))
        obj.setdefault("resource_type", resource.get("type"))
    return {"event_code": event.get("code"), "occurred_at": event.get("occurred_at"), "object": obj}


SCHEMA = KobanaSchema()
