"""Schema base shared by every provider: providers add fields without notice, so keep them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate


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
    """

    class Meta:
        unknown = EXCLUDE

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None, unknown: Any = None) -> Any:
        loaded = super().load(data, many=many, partial=partial, unknown=unknown)
        if self.many if many is None else many:
            return [{**item, **done} for item, done in zip(data, loaded, strict=True)]
        return {**data, **loaded}


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


class Money(fields.Decimal):
    def __init__(self, **kwargs: Any) -> None:
        within = validate.Range(min=-MAX_AMOUNT, max=MAX_AMOUNT, error="amount out of range")
        extra = kwargs.pop("validate", None)
        super().__init__(allow_nan=False, validate=[within, *([extra] if extra else [])], **kwargs)
        self._fast = self.places is None and len(self.validators) == 1 and not (self.pre_load or self.post_load)

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if type(value) is Decimal and self._fast and value.is_finite() and -MAX_AMOUNT <= value <= MAX_AMOUNT:
            return value
        return super().deserialize(value, attr, data, **kwargs)


class Identifier(fields.Raw):
    """An id: a JSON integer or a 1-200 character string (forms send every id as a string)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=_scalar, **kwargs)
        self._fast = self.validators == [_scalar] and not (self.pre_load or self.post_load)

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        kind = type(value)
        if self._fast and (kind is int or (kind is str and 0 < len(value) <= 200)):
            return value
        return super().deserialize(value, attr, data, **kwargs)


class Text(fields.String):
    """``fields.String``; a ``str`` its validators accept is returned as is."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast = not (self.pre_load or self.post_load)

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if type(value) is str and self._fast:
            try:
                if all(check(value) is not False for check in self.validators):
                    return value
            except ValidationError:
                pass  # the full path raises it again, worded and collected as marshmallow does
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
