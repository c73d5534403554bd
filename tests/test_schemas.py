"""The schemas' fast ``INCLUDE`` (``schemas.common.Lenient``) builds what marshmallow's own does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import INCLUDE, Schema, ValidationError

from providers._common import parse_json_object
from schemas import celcoin, kobana, transfeera
from schemas.common import Lenient
from tests.conftest import SAMPLES

SCHEMAS = [kobana.SCHEMA, transfeera.SCHEMA, celcoin.BAAS, celcoin.LEGACY_PIX, celcoin.WEBHOOK_ID, celcoin.FLAT]


def _lenient_classes(cls: type = Lenient) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_lenient_classes(sub)]
    return found


def _marshmallow_include(schema: Schema, data: Any) -> Any:
    """What marshmallow itself builds: its ``_deserialize`` with ``INCLUDE``, nested ones included."""
    original = Lenient._deserialize
    Lenient._deserialize = Schema._deserialize  # type: ignore[method-assign]
    try:
        return schema.load(data, unknown=INCLUDE)
    finally:
        Lenient._deserialize = original  # type: ignore[method-assign]


def test_no_lenient_field_renames_its_key():
    """The fast path lays declared fields over the input: right only when keys are not renamed."""
    for cls in _lenient_classes():
        for name, field in cls().load_fields.items():
            assert field.data_key is None and field.attribute is None, f"{cls.__name__}.{name}"


@pytest.mark.parametrize("path", sorted(SAMPLES.rglob("*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: type(s).__name__)
def test_loading_a_sample_gives_what_marshmallow_include_gives(schema, path):
    data = parse_json_object(path.read_bytes())
    try:
        expected = _marshmallow_include(schema, data)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            schema.load(data)
        assert raised.value.messages == exc.messages
        return
    loaded = schema.load(data)
    assert loaded == expected
    assert json.dumps(loaded, default=str, sort_keys=True) == json.dumps(expected, default=str, sort_keys=True)


@pytest.mark.parametrize(
    "body",
    [
        {"event_code": "bank_billet.paid", "object": {"id": 1, "amount": "12.50", "extra": [1, 2]}, "x": None},
        {"event_code": "bank_billet.paid", "object": {"amount": "NaN", "paid_amount": "1e13"}, "webhook": "no"},
        {"event_code": "", "object": {"bank_billet_payments": [{"paid_amount": "x"}, {"other": 1}]}},
        {"event": {"code": "bank_billet.paid", "occurred_at": "2026-01-01"}, "data": {"amount": "1.5", "k": 2}},
    ],
)
def test_kobana_bodies_load_or_fail_as_with_marshmallow_include(body):
    try:
        expected = _marshmallow_include(kobana.SCHEMA, body)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            kobana.SCHEMA.load(body)
        assert raised.value.messages == exc.messages
        return
    loaded = kobana.SCHEMA.load(body)
    assert loaded == expected
    assert isinstance(loaded["object"]["amount"], Decimal)
