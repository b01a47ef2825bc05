"""Valid orders, made as the platforms' webhooks make them: through `order_sync`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from channels_app.models import Channel
from orders.models import Order
from orders.services import LineData, OrderData, order_sync


def line(external_line_id: str = "1", quantity: int = 1, unit_price: Any = 10, **fields: Any) -> LineData:
    return LineData(external_line_id, quantity, Decimal(unit_price), **fields)


def order(
    channel: Channel,
    external_id: str = "450789469",
    *,
    lines: tuple[LineData, ...] = (),
    **fields: Any,
) -> Order:
    """An order of `channel` with `lines` (one line of one unit at 10 unless given), synced as a
    webhook would sync it, so its reservations and status follow the hub's rules."""
    data = OrderData(external_id=external_id, lines=lines or (line(),), **fields)
    return order_sync(channel=channel, data=data).order
