"""Schema base shared by every provider: providers add fields without notice, so keep them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate


class Lenient(Schema):
    """Unknown fields are kept, never rejected (Kobana and Celcoin both promise new fields).

    What marshmallow's ``INCLUDE`` builds, faster: ``INCLUDE`` walks every key of the body in
    Python to find the undeclared ones (a Kobana ``object`` has 160), a fifth of the load. Here
    the declared fields are loaded with ``EXCLUDE`` (deserialized and validated exactly as with
    ``INCLUDE``, errors included), then laid over a copy of the input: the same mapping, since no
    field renames its key (``data_key``/``attribute``; tests/test_schemas.py checks both). Nested
    schemas load through ``load`` too. A ``post_load(pass_original=True)`` hook does the same,
    but marshmallow's hook machinery cost 5 us more per Celcoin or Transfeera body (timeit), on
    the door's hot path.

    Faster still when every declared field has a fast path (below) and the body is one the fast
    paths recognise whole, as a provider's everyday body is: the fields are then walked here, each
    value given back by its field's ``fast``, without marshmallow's per-field machinery (a closure,
    an error store and a ``try`` per field, 290 calls for a Kobana body). The first value the fast
    paths do not recognise (a wrong type, a value a validator refuses, a null where none is allowed,
    a required field missing) sends the whole body through marshmallow, so every error is its own.
    A schema with hooks, or with a field the walk cannot reproduce, always goes through marshmallow.
    tests/test_schemas.py checks both against marshmallow's ``INCLUDE``.
    """

    class Meta:
        unknown = EXCLUDE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._walk = _walk_of(self)

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None, unknown: Any = None) -> Any:
        if self._walk is not None and type(data) is dict and many is None and partial is None and unknown is None:
            done = self._walked(data)
            if done is not SLOW:
                return done
        loaded = super().load(data, many=many, partial=partial, unknown=unknown)
        if self.many if many is None else many:
            return [{**item, **done} for item, done in zip(data, loaded, strict=True)]
        return {**data, **loaded}

    def _walked(self, data: dict[str, Any]) -> Any:
        """What ``load`` returns for ``data`` when the fast paths recognise all of it, else ``SLOW``.

        The same steps as ``Field.deserialize`` per field, in the same order: a missing field is
        refused if required, else its ``load_default``; a null is refused unless allowed.
        """
        if self._walk is None:
            return SLOW
        loaded = {}
        for name, field, fast in self._walk:
            value = data.get(name, missing)
            if value is missing:
                if field.required:
                    return SLOW
                value = field.load_default() if callable(field.load_default) else field.load_default
                if value is not missing:
                    loaded[name] = value
                continue
            if value is None:
                if not field.allow_none:
                    return SLOW
                loaded[name] = None
                continue
            value = fast(value)
            if value is SLOW:
                return SLOW
            loaded[name] = value
        return {**data, **loaded}


_Fast = Callable[[Any], Any]


def _walk_of(schema: Lenient) -> list[tuple[str, fields.Field, _Fast]] | None:
    """Each declared field with its fast path, in marshmallow's order; None if the schema has
    hooks or options, or a field without a fast path."""
    if schema.many or schema.partial or any(schema._hooks.values()):
        return None
    walk = []
    for name, field in schema.load_fields.items():
        fast = _fast_of(field)
        if fast is None or field.data_key is not None or field.attribute is not None:
            return None
        walk.append((name, field, fast))
    return walk


def _fast_of(field: fields.Field) -> _Fast | None:
    """A field's fast path (``value`` as marshmallow's ``_deserialize`` and validators give it back,
    or ``SLOW``), for the kinds the schemas use; None for any other kind or option."""
    if field.pre_load or field.post_load:
        return None
    if isinstance(field, Money | Identifier | Text):
        return field.fast if field._fast else None
    if field.validators:
        return None
    if type(field) is fields.Nested:
        nested = field.schema
        if not isinstance(nested, Lenient) or nested._walk is None or field.many or field.unknown is not None:
            return None
        return lambda value: nested._walked(value) if type(value) is dict else SLOW
    if type(field) is fields.List:
        inner, each = field.inner, _fast_of(field.inner)
        if each is None or inner.allow_none or inner.required:
            return None
        return lambda value: _each(each, value) if type(value) is list else SLOW
    if type(field) is fields.Dict and field.key_field is None and field.value_field is None:
        return lambda value: dict(value) if type(value) is dict else SLOW
    if type(field) is fields.Raw:
        return lambda value: value
    return None


def _each(fast: _Fast, values: list[Any]) -> Any:
    """A list's items through their field's fast path (a null item goes the full path)."""
    done = []
    for value in values:
        value = SLOW if value is None else fast(value)
        if value is SLOW:
            return SLOW
        done.append(value)
    return done


#: No payment is a trillion reais; past this an "amount" is an exponent bomb (``1e999999999`` parses
#: to a Decimal fine, then hangs or raises in the handler that converts it to centavos).
MAX_AMOUNT = Decimal("1e12")


# Fields with a fast path. marshmallow runs every field through the same generic machinery
# (missing/None checks, pre/post hooks, an ``And`` of the validators built per call): a few
# microseconds per field, twenty-odd fields per Kobana body. Each class below first recognises the
# values the JSON parser hands it every day (a finite Decimal amount in range, an int id, a str) and
# returns them as the full path would: for those values that path only checks them and gives them
# back (``Decimal(str(d))`` is ``d``, same digits and exponent). Anything else, including every value
# that would fail, takes marshmallow's full path, so errors are marshmallow's own. A field built
# with options the fast path does not reproduce (places, extra validators, hooks) never uses it.
# tests/test_schemas.py checks the fast path against the full one.


#: A fast path's answer for a value it does not recognise: marshmallow's full path decides.
SLOW: Any = object()


class Money(fields.Decimal):
    def __init__(self, **kwargs: Any) -> None:
        within = validate.Range(min=-MAX_AMOUNT, max=MAX_AMOUNT, error="amount out of range")
        extra = kwargs.pop("validate", None)
        super().__init__(allow_nan=False, validate=[within, *([extra] if extra else [])], **kwargs)
        self._fast = self.places is None and len(self.validators) == 1 and not (self.pre_load or self.post_load)

    def fast(self, value: Any) -> Any:
        """``value`` as the full path returns it, or ``SLOW``."""
        if type(value) is Decimal and value.is_finite() and -MAX_AMOUNT <= value <= MAX_AMOUNT:
            return value
        return SLOW

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if self._fast and (done := self.fast(value)) is not SLOW:
            return done
        return super().deserialize(value, attr, data, **kwargs)


class Identifier(fields.Raw):
    """An id: a JSON integer or a 1-200 character string (forms send every id as a string)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=_scalar, **kwargs)
        self._fast = self.validators == [_scalar] and not (self.pre_load or self.post_load)

    def fast(self, value: Any) -> Any:
        """``value`` as the full path returns it, or ``SLOW``."""
        kind = type(value)
        return value if kind is int or (kind is str and 0 < len(value) <= 200) else SLOW

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if self._fast and (done := self.fast(value)) is not SLOW:
            return done
        return super().deserialize(value, attr, data, **kwargs)


class Text(fields.String):
    """``fields.String``; a ``str`` its validators accept is returned as is."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast = not (self.pre_load or self.post_load)

    def fast(self, value: Any) -> Any:
        """``value`` as the full path returns it, or ``SLOW``: a value a validator refuses goes the
        full path, which raises the error again as marshmallow words and collects it."""
        if type(value) is str:
            try:
                if all(check(value) is not False for check in self.validators):
                    return value
            except ValidationError:
                pass
        return SLOW

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if self._fast and (done := self.fast(value)) is not SLOW:
            return done
        return super().deserialize(value, attr, data, **kwargs)


def money(**kwargs: Any) -> fields.Decimal:
    """An amount in reais: Decimal in, Decimal out; NaN/Infinity and absurd magnitudes refused (quarantine)."""
    return Money(allow_none=True, load_default=None, **kwargs)


def identifier(required: bool = False) -> fields.Field:
    """Provider ids arrive as JSON numbers or strings (and always as strings in forms)."""
    kwargs: dict[str, Any] = {"required": True} if required else {"load_default": None, "allow_none": True}
    return Identifier(**kwargs)


def _scalar(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError("must be a string or an integer")
    if isinstance(value, str) and not 0 < len(value) <= 200:
        raise ValidationError("must be 1 to 200 characters")


CODE = validate.Regexp(r"^[A-Za-z0-9_.*:-]{1,120}$", error="not a valid event code")
