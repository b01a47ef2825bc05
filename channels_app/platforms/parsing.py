"""Reading platform payload values into Python types, the same way for every platform."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime


def text(value: Any) -> str:
    return "" if value is None else str(value)


def timestamp(value: Any) -> datetime | None:
    """ISO 8601 (an offset-less value is UTC, as WooCommerce's *_gmt fields; a date alone is its
    midnight UTC, as carriers give delivery dates) or Unix seconds; None for anything else, a
    time out of range included (10^20 seconds, year 9999 west of UTC)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        parsed = parse_datetime(value) if isinstance(value, str) and value else None
        if parsed is None:
            day = parse_date(value) if isinstance(value, str) and value else None
            return datetime.combine(day, time(0), UTC) if day is not None else None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        # The database stores UTC: a time that overflows past year 9999 there fails here instead.
        parsed.astimezone(UTC)
        return parsed
    except (ValueError, OverflowError, OSError):
        return None
