"""The schemas' fast ``INCLUDE`` (``schemas.common.Lenient``) builds what marshmallow's own does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from marshmallow import INCLUDE, Schema, ValidationError, fields, missing

from providers._common import parse_json_object
from schemas import celcoin, kobana, transfeera
from schemas.common import CODE, MAX_AMOUNT, Lenient, Text, identifier, money
from tests.helpers import SAMPLES

SCHEMAS = [kobana.SCHEMA, transfeera.SCHEMA, celcoin.BAAS, celcoin.LEGACY_PIX, celcoin.WEBHOOK_ID, celcoin.FLAT]


def _lenient_classes(cls: type = Lenient) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_lenient_classes(sub)]
    return found


def _marshmallow_include(schema: Schema, data: Any) -> Any:
    """What marshmallow itself builds: its own ``load`` with ``INCLUDE``, nested schemas included."""

    def include(self: Schema, data: Any, *, many: Any = None, partial: Any = None, unknown: Any = None) -> Any:
        return Schema.load(self, data, many=many, partial=partial, unknown=INCLUDE)

    original = Lenient.load
    Lenient.load = include  # type: ignore[method-assign]
    try:
        return schema.load(data)
    finally:
        Lenient.load = original  # type: ignore[method-assign]


def test_no_lenient_field_renames_its_key():
    """The fast path lays declared fields over the input: right only when keys are not renamed."""
    for cls in _lenient_classes():
        for name, field in cls().load_fields.items():
            assert field.data_key is None and field.attribute is None, f"{cls.__name__}.{name}"


@pytest.mark.parametrize("path", sorted(SAMPLES.rglob("*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: type(s).__name__)
def test_loading_a_sample_gives_what_marshmallow_include_gives(schema, path):
    _loads_as_marshmallow_include(schema, parse_json_object(path.read_bytes()))


def _loads_as_marshmallow_include(schema: Schema, data: Any) -> None:
    """``schema.load(data)`` gives what marshmallow's own ``INCLUDE`` gives, or fails with its errors."""
    try:
        expected = _marshmallow_include(schema, data)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            schema.load(data)
        assert raised.value.messages == exc.messages
        return
    loaded = schema.load(data)
    assert loaded == expected
    assert json.dumps(loaded, default=repr, sort_keys=True) == json.dumps(expected, default=repr, sort_keys=True)


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


# --- the fields' fast paths give what marshmallow's full path gives --------------------------------

_VALUES = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-MAX_AMOUNT * 2, max_value=MAX_AMOUNT * 2, places=2),
    st.sampled_from([MAX_AMOUNT, -MAX_AMOUNT, MAX_AMOUNT.next_plus(), Decimal("-0"), Decimal("1E+2"), Decimal("sNaN")]),
    st.integers(),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.booleans(),
    st.none(),
    st.text(max_size=210),
    st.sampled_from(["", "x" * 200, "x" * 201, "bank_billet.paid", "1e3", "NaN", "12.50", "bad code!"]),
    st.floats(),
    st.lists(st.integers(), max_size=2),
    st.just(missing),
)

_FIELDS = [
    money(),
    identifier(),
    identifier(required=True),
    Text(load_default=None, allow_none=True),
    Text(required=True, validate=CODE),
    Text(required=True, validate=lambda s: 0 < len(s) <= 200),
]


def _full_path(field: fields.Field, value: Any) -> Any:
    return type(field).__mro__[1].deserialize(field, value, "f", {"f": value})


@settings_(max_examples=3000, deadline=None)
@given(_VALUES, st.sampled_from(range(len(_FIELDS))))
def test_fast_fields_return_or_refuse_exactly_what_marshmallow_does(value, which):
    field = _FIELDS[which]
    assert field._fast  # type: ignore[attr-defined]
    try:
        expected = _full_path(field, value)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            field.deserialize(value, "f", {"f": value})
        assert raised.value.messages == exc.messages
        return
    got = field.deserialize(value, "f", {"f": value})
    assert type(got) is type(expected)
    assert got == expected or (got != got and expected != expected)
    if isinstance(got, Decimal):
        assert got.as_tuple() == expected.as_tuple()  # same digits and exponent, not just equal


def test_fields_with_options_the_fast_path_does_not_reproduce_do_not_use_it():
    assert not money(places=2)._fast  # type: ignore[attr-defined]
    assert not money(validate=lambda v: v > 0)._fast  # type: ignore[attr-defined]
    assert not Text(pre_load=str.strip)._fast  # type: ignore[attr-defined]


# --- the schemas' walk gives what marshmallow gives, for any body --------------------------------


def _body_for(schema: Schema, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies around ``schema``: each declared field missing, null, an everyday value (most often,
    so that many bodies load), any kind of value or (nested) a body of its own schema, beside
    undeclared keys."""

    def everyday(field: fields.Field) -> st.SearchStrategy[Any]:
        if isinstance(field, fields.Nested) and depth < 3:
            return _body_for(field.schema, depth + 1)
        if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested) and depth < 3:
            return st.lists(st.one_of(_body_for(field.inner.schema, depth + 1), st.none()), max_size=3)
        return st.sampled_from([Decimal("349.90"), 84512377, "bank_billet.paid", "2026-06-16T14:05:42-03:00", {}])

    def value_for(field: fields.Field) -> st.SearchStrategy[Any]:
        anything = st.one_of(
            _VALUES.filter(lambda v: v is not missing), st.dictionaries(st.text(max_size=3), st.integers())
        )
        return st.one_of(everyday(field), everyday(field), everyday(field), anything)

    declared = {name: value_for(field) for name, field in schema.load_fields.items()}
    extra = st.dictionaries(st.sampled_from(["x", "notes", "tags"]), _VALUES.filter(lambda v: v is not missing))
    return st.tuples(st.fixed_dictionaries({}, optional=declared), extra).map(lambda both: {**both[1], **both[0]})


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: type(s).__name__)
def test_the_walk_covers_every_schema_without_an_integer_field(schema):
    """Only Celcoin's legacy Pix (an ``Integer`` status id, which has no fast path) always goes
    through marshmallow."""
    assert (schema._walk is None) == (schema is celcoin.LEGACY_PIX)


@settings_(max_examples=200, deadline=None)
@given(st.data())
@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: type(s).__name__)
def test_any_body_loads_or_fails_through_the_walk_as_with_marshmallow_include(schema, data):
    _loads_as_marshmallow_include(schema, data.draw(_body_for(schema)))


def test_an_everyday_body_is_loaded_by_the_walk():
    """A Kobana ``bank_billet.paid`` never reaches marshmallow's per-field machinery."""
    data = parse_json_object((SAMPLES / "kobana" / "bank_billet.paid.json").read_bytes())
    original = Schema._deserialize
    Schema._deserialize = None  # type: ignore[assignment,method-assign]
    try:
        loaded = kobana.SCHEMA.load(data)
    finally:
        Schema._deserialize = original  # type: ignore[method-assign]
    assert loaded == _marshmallow_include(kobana.SCHEMA, data)
