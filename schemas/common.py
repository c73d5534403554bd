"""Schema base shared by every provider: providers add fields without notice, so keep them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError, fields, validate


class Lenient(Schema):
    """Unknown fields are kept, never rejected (Kobana and Celcoin both promise new fields)."""

    class Meta:
        unknown = INCLUDE

    def _deserialize(  # type: ignore[override]
        self,
        data: Any,
        *,
        error_store: Any,
        many: bool = False,
        partial: Any = None,
        unknown: str = RAISE,
        index: int | None = None,
    ) -> Any:
        """``INCLUDE`` with the unknown keys copied in C rather than one by one.

        marshmallow's ``INCLUDE`` walks every key of the body in Python to find the undeclared
        ones (a Kobana ``object`` has 160): a fifth of the load. The declared fields are
        deserialized and validated exactly as before (``EXCLUDE`` only skips that walk), then laid
        over a copy of the input: the same mapping ``INCLUDE`` builds, since no field here renames
        its key (``data_key``/``attribute``; checked in tests). Errors are the same too.
        """
        if unknown == INCLUDE and not many and type(data) is dict:
            loaded = super()._deserialize(data, error_store=error_store, partial=partial, unknown=EXCLUDE, index=index)
            return {**data, **loaded}
        return super()._deserialize(
            data, error_store=error_store, many=many, partial=partial, unknown=unknown, index=index
        )


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
