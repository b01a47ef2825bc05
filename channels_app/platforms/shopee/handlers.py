"""What Shopee push codes do (registered in channels_app.handlers)."""

from __future__ import annotations

from typing import Any

from channels_app.handlers import HandlerError, Outcome, ignored
from channels_app.models import ProcessedWebhookEvent
from channels_app.platforms.shopee import client, payloads
from orders.services import order_sync


def order_fetch(event: ProcessedWebhookEvent) -> dict[str, Any] | None:
    """A push only says an order changed: read its current state (outside the transaction).

    Code 3 (order status) always names its order; code 8 (reserved stock change) names the order
    that was placed or cancelled, and its stock effect is that order's reservation here.
    """
    sn = payloads.order_sn(event.payload)
    if not sn:
        if event.topic == "order_status":
            raise HandlerError("Shopee order status push has no data.ordersn", permanent=True)
        return None
    return client.fetch_order_detail(event.channel, sn)


def order_apply(event: ProcessedWebhookEvent, detail: dict[str, Any] | None) -> Outcome | None:
    if detail is None:
        # Shopee's own campaign reserve moved with no order of this shop behind it.
        return ignored("reserved stock change that names no order")
    result = order_sync(channel=event.channel, data=payloads.order(detail), event_id=event.pk)
    return ignored("stale update: older than the stored order") if result.stale else None
