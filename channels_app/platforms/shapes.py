"""What platforms send, as types: the edge every handler reads its payload through.

A payload is checked against its platform's shape before anything is written. A wrong type, a
number out of range, an unknown currency or an over-long field is a permanent HandlerError naming
the field's path and the value: the platform will never send it differently, so no retry helps.
Nothing is coerced that a platform never sends (1.7 or `true` for a quantity, an object for an
id, "NaN" for a price). Fields the hub does not read are ignored, since platforms add fields with
every API version; the lengths are the hub's own columns'.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
)

from channels_app.outcomes import HandlerError
from channels_app.platforms.parsing import timestamp

MAX_QUANTITY = 1_000_000  # units on one line, or in stock at one place
MAX_MONEY_DIGITS = 12  # before the point: OrderItem.unit_price and Order.total are (14, 2)


class Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# Strings of at most so many characters: the hub's columns they land in.
Text2 = Annotated[str, Strict(), StringConstraints(max_length=2)]
Text50 = Annotated[str, Strict(), StringConstraints(max_length=50)]
Text100 = Annotated[str, Strict(), StringConstraints(max_length=100)]
Text200 = Annotated[str, Strict(), StringConstraints(max_length=200)]
Text255 = Annotated[str, Strict(), StringConstraints(max_length=255)]
Text1000 = Annotated[str, Strict(), StringConstraints(max_length=1000)]
Id = Annotated[int, Strict(), Field(ge=0, lt=2**63)]
Quantity = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]
# A platform's stock level may go negative (sold past zero), unlike a line's quantity.
StockLevel = Annotated[int, Strict(), Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]
Currency = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{3}$")]

_DECIMAL = re.compile(rf"-?\d{{1,{MAX_MONEY_DIGITS}}}(\.\d{{1,4}})?")


def _money_text(value: Any) -> Decimal:
    """A price as Shopify and WooCommerce send it: a decimal string ("89.99")."""
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value.strip()):
        raise ValueError('not a decimal amount such as "89.99"')
    return _non_negative(Decimal(value.strip()))


def _money_number(value: Any) -> Decimal:
    """A price as a JSON number (WooCommerce's line `price`, Shopee's amounts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** MAX_MONEY_DIGITS:
        raise ValueError("out of range")
    return _non_negative(amount)


def _non_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError("negative")
    return amount


def _time(value: Any) -> datetime:
    """An ISO 8601 time (or Unix seconds where the platform sends a number)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("not a time")
    parsed = timestamp(value)
    if parsed is None:
        raise ValueError("not a time, or out of range")
    return parsed


def _time_or_blank(value: Any) -> datetime | None:
    """As `_time`, where a platform documents "" for "no time" (AfterShip's dates)."""
    return None if value in ("", None) else _time(value)


Money = Annotated[Decimal, BeforeValidator(_money_text)]
MoneyNumber = Annotated[Decimal, BeforeValidator(_money_number)]
When = Annotated[datetime, BeforeValidator(_time)]
# Where a platform documents "" for "no time" (AfterShip's dates).
WhenOrBlank = Annotated[datetime | None, BeforeValidator(_time_or_blank)]
Object = Annotated[dict[str, Any], Strict()]

S = TypeVar("S", bound=Shape)


def validated(shape: type[S], payload: Any, what: str) -> S:
    """`payload` as `shape`, or a permanent HandlerError saying which field is wrong and how."""
    try:
        return shape.model_validate(payload)
    except ValidationError as exc:
        raise HandlerError(f"{what}: {describe(exc)}", permanent=True) from None


def describe(exc: ValidationError) -> str:
    """The first few errors as `path: problem (got value)`, readably."""
    parts = []
    for error in exc.errors()[:3]:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
        message = error["msg"].removeprefix("Value error, ")
        got = repr(error.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        parts.append(f"{path or 'the payload'}: {message} (got {got})")
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def unique_ids(what: str) -> AfterValidator:
    """For a list of shapes with an `id`: each id once (two lines with one id would be one line)."""

    def check(items: list[Any]) -> list[Any]:
        seen: set[Any] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"{what} {item.id} appears twice")
            seen.add(item.id)
        return items

    return AfterValidator(check)
