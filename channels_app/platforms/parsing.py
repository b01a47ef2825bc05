"""Reading platform payload values into Python types, the same way for every platform."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_datetime


def text(value: Any) -> str:
    return "" if value is None else str(value)


def decimal(value: Any) -> Decimal:
    """Money: platforms send strings ("89.99"), WooCommerce sometimes numbers. Bad -> 0, never a float."""
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def timestamp(value: Any) -> datetime | None:
    """ISO 8601 (an offset-less value is UTC, as WooCommerce's *_gmt fields) or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = parse_datetime(value) if isinstance(value, str) and value else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
