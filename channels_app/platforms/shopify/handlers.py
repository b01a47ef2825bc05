"""What Shopify webhook topics do (registered in channels_app.handlers)."""

from __future__ import annotations

from channels_app.models import ProcessedWebhookEvent
from channels_app.outcomes import Outcome, ignored
from channels_app.platforms.shopify import payloads
from inventory.inbound import sku_for_variant, stock_report, warehouse_for_location
from messaging.checkouts import CheckoutSynced, checkout_converted, checkout_sync
from orders.fulfillments import FulfillmentReported, fulfillment_from_platform
from orders.services import order_sync


def order_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """orders/create, updated, paid, cancelled: the payload is the whole order (and the checkout
    it was placed from is no longer abandoned)."""
    result = order_sync(channel=event.channel, data=payloads.order(event.payload), event_id=event.pk)
    checkout_converted(event.channel, *payloads.checkout_reference(event.payload))
    return ignored("stale update: older than the stored order") if result.stale else None


def checkout_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """checkouts/create and checkouts/update: recorded, abandoned if nothing happens for a while."""
    done = checkout_sync(channel=event.channel, data=payloads.checkout(event.payload))
    if done is CheckoutSynced.STALE:
        return ignored("stale update: older than the stored checkout")
    if done is CheckoutSynced.NO_PHONE:
        return ignored("the checkout has no usable phone number (recorded, no SMS)")
    if done is CheckoutSynced.TOO_OLD:
        return ignored("the checkout was last touched over a day ago: too old to remind of (recorded)")
    return None


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
        inventory_item=level.inventory_item_id,
    )


def fulfillment_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """fulfillments/create: one made in Shopify, or the echo of the hub's own push."""
    shipped = payloads.fulfillment(event.payload)
    result = fulfillment_from_platform(
        channel_id=event.channel_id,
        order_external_id=shipped.order_id,
        external_id=shipped.fulfillment_id,
        tracking_number=shipped.tracking_number,
        carrier=shipped.carrier,
        url=shipped.url,
    )
    if result is FulfillmentReported.NO_ORDER:
        return ignored(f"order {shipped.order_id} is not in the hub (the reconciliation brings it)")
    return None
