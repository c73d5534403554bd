"""Transfeera envelope ``{id, version, account_id, object, date, data}`` (providers.md §3.5; seed 004)."""

from __future__ import annotations

from marshmallow import fields

from schemas.common import CODE, Lenient, Text, identifier, money


class DataSchema(Lenient):
    id = identifier()
    value = money()


class TransfeeraSchema(Lenient):
    id = Text(required=True, validate=lambda s: 0 < len(s) <= 200)
    version = Text(load_default=None, allow_none=True)
    account_id = Text(load_default=None, allow_none=True)
    object = Text(required=True, validate=CODE)
    date = Text(load_default=None, allow_none=True)
    data = fields.Nested(DataSchema, required=True)


SCHEMA = TransfeeraSchema()
