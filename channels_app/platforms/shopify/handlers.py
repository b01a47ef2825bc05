"""What Shopify webhook topics do (registered in channels_app.handlers)."""

from __future__ import annotations

from channels_app.handlers import Outcome, ignored
from channels_app.models import ProcessedWebhookEvent
from channels_app.platforms.shopify import payloads
from channels_app.platforms.stock import sku_for_variant, stock_report, warehouse_for_location
from orders.services import order_sync


def order_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """orders/create, updated, paid, cancelled: the payload is the whole order."""
    result = order_sync(channel=event.channel, data=payloads.order(event.payload), event_id=event.pk)
    return ignored("stale update: older than the stored order") if result.stale else None


def inventory_level_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """inventory_levels/update: an inventory item's available units at a location."""
    level = payloads.inventory_level(event.payload)
    if level.available is None:
        return ignored("Shopify does not track this inventory item")
    channel = event.channel
    return stock_report(
        event,
        sku=sku_for_variant(channel, inventory_item_id=level.inventory_item_id),
        warehouse=warehouse_for_location(channel, level.location_id),
        available=level.available,
        reported_at=level.updated_at,
        describe=f"Shopify inventory item {level.inventory_item_id}",
        location=level.location_id,
    )
