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
    createTimestamp = Text(load_default=None, allow_none=True)  # Celcoin's spelling (camelCase here and below)
    status = Text(load_default=None, allow_none=True)
    body = fields.Nested(BaasBodySchema, required=True)


class LegacyStatusSchema(Lenient):
    StatusId = fields.Integer(load_default=None, allow_none=True)
    Description = Text(load_default=None, allow_none=True)


class LegacyBodySchema(Lenient):
    TransactionType = Text(required=True, validate=CODE)
    Amount = money()
    StatusCode = fields.Nested(LegacyStatusSchema, load_default=None, allow_none=True)


class LegacyPixSchema(Lenient):
    RequestBody = fields.Nested(LegacyBodySchema, required=True)


class WebhookIdSchema(Lenient):
    webhookId = Text(required=True, validate=lambda s: 0 < len(s) <= 200)
    body = fields.Dict(required=True)


class FlatSchema(Lenient):
    """cel_card bodies carry no envelope; their entity comes from the URL path."""


BAAS, LEGACY_PIX, WEBHOOK_ID, FLAT = BaasSchema(), LegacyPixSchema(), WebhookIdSchema(), FlatSchema()
