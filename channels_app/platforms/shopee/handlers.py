"""What Shopee push codes do (registered in channels_app.handlers)."""

from __future__ import annotations

from typing import Any

from channels_app.models import ProcessedWebhookEvent
from channels_app.outcomes import HandlerError, Outcome, ignored
from channels_app.platforms.shopee import client, payloads
from inventory.inbound import sku_for_variant, stock_report
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


def stock_fetch(event: ProcessedWebhookEvent) -> dict[str, Any]:
    """Code 8 (reserved stock change): an order placed or cancelled moved an item's stock. Read
    both the order it names and the item's current stock per model (outside the transaction)."""
    item = payloads.item_id(event.payload)
    models = client.fetch_models(event.channel, item) if item else []
    return {"order": order_fetch(event), "stock": payloads.model_stocks(item, models)}


def stock_apply(event: ProcessedWebhookEvent, fetched: dict[str, Any]) -> Outcome | None:
    if fetched["order"] is None and not fetched["stock"]:
        return ignored("reserved stock change that names no order and no item")
    if fetched["order"] is not None:
        order_apply(event, fetched["order"])
    channel = event.channel
    reported_at = payloads.pushed_at(event.payload)
    for stock in fetched["stock"]:
        warehouse = channel.warehouse_for(stock.location_id)
        if warehouse is None:
            raise HandlerError(
                f"channel {channel.pk} has no warehouse for Shopee location {stock.location_id or '(none)'}: "
                "map it or set the organization's default warehouse, then retry this event",
                permanent=True,
            )
        stock_report(
            event,
            sku=sku_for_variant(channel, variant_id=stock.variant_id, code=stock.sku_code),
            warehouse=warehouse,
            available=stock.available,
            reported_at=reported_at,
            describe=f"Shopee model {stock.variant_id}",
        )
    return None
