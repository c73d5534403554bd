"""Celcoin payload families (providers.md §2.2): BaaS envelope, legacy Pix, webhookId, flat cel_card.

Each family has its own schema; ``providers.celcoin`` picks one by the body's shape.
Key casing is inconsistent on Celcoin's side, so only the keys we rely on are declared.
"""

from __future__ import annotations

from marshmallow import fields

from schemas.common import CODE, Lenient, Text, money


class BaasBodySchema(Lenient):
    amount = money()


class BaasSchema(Lenient):
    entity = Text(required=True, validate=CODE)
    createTimestamp = Text(load_default=None, allow_none=True)  # noqa: N815 - Celcoin's name
    status = Text(load_default=None, allow_none=True)
    body = fields.Nested(BaasBodySchema, required=True)


class LegacyStatusSchema(Lenient):
    StatusId = fields.Integer(load_default=None, allow_none=True)  # noqa: N815
    Description = Text(load_default=None, allow_none=True)  # noqa: N815


class LegacyBodySchema(Lenient):
    TransactionType = Text(required=True, validate=CODE)  # noqa: N815
    Amount = money()  # noqa: N815
    StatusCode = fields.Nested(LegacyStatusSchema, load_default=None, allow_none=True)  # noqa: N815


class LegacyPixSchema(Lenient):
    RequestBody = fields.Nested(LegacyBodySchema, required=True)  # noqa: N815


class WebhookIdSchema(Lenient):
    webhookId = Text(required=True, validate=lambda s: 0 < len(s) <= 200)  # noqa: N815
    body = fields.Dict(required=True)


class FlatSchema(Lenient):
    """cel_card bodies carry no envelope; their entity comes from the URL path."""


BAAS, LEGACY_PIX, WEBHOOK_ID, FLAT = BaasSchema(), LegacyPixSchema(), WebhookIdSchema(), FlatSchema()
