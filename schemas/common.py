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


def money(**kwargs: object) -> fields.Decimal:
    """An amount in reais: Decimal in, Decimal out; NaN/Infinity and absurd magnitudes refused (quarantine)."""
    within = validate.Range(min=-MAX_AMOUNT, max=MAX_AMOUNT, error="amount out of range")
    return fields.Decimal(allow_none=True, allow_nan=False, load_default=None, validate=within, **kwargs)  # type: ignore[arg-type]


def identifier(required: bool = False) -> fields.Field:
    """Provider ids arrive as JSON numbers or strings (and always as strings in forms)."""
    kwargs: dict[str, object] = {"required": True} if required else {"load_default": None, "allow_none": True}
    return fields.Raw(validate=_scalar, **kwargs)  # type: ignore[arg-type]


def _scalar(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError("must be a string or an integer")
    if isinstance(value, str) and not 0 < len(value) <= 200:
        raise ValidationError("must be 1 to 200 characters")


CODE = validate.Regexp(r"^[A-Za-z0-9_.*:-]{1,120}$", error="not a valid event code")
