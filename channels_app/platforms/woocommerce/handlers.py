"""What WooCommerce webhook topics do (registered in channels_app.handlers)."""

from __future__ import annotations

from channels_app.models import ProcessedWebhookEvent
from channels_app.outcomes import HandlerError, Outcome, ignored
from channels_app.platforms.woocommerce import payloads
from inventory.inbound import sku_for_variant, stock_report
from orders.services import order_delete, order_sync


def order_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """order.created, order.updated: the payload is the whole order as WooCommerce's REST API shows it."""
    result = order_sync(channel=event.channel, data=payloads.order(event.payload), event_id=event.pk)
    return ignored("stale update: older than the stored order") if result.stale else None


def order_deleted_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    result = order_delete(channel=event.channel, external_id=payloads.deleted_id(event.payload))
    return ignored("order not known to the hub") if result.order is None else None


def product_stock_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """product.updated: WooCommerce keeps one stock figure per product or variation, for the whole
    store; a variation's webhook (and the reconciliation's variation lists) sends the variation."""
    stock = payloads.product_stock(event.payload)
    if stock.quantity is None:
        return ignored("WooCommerce does not manage this product's stock")
    channel = event.channel
    warehouse = channel.warehouse_for()  # The warehouse the store's orders reserve from, as they do.
    if warehouse is None:
        raise HandlerError(
            f"channel {channel.pk} has no warehouse for its stock: map one of its locations or set the "
            "organization's default warehouse, then retry this event",
            permanent=True,
        )
    if stock.parent_id:
        what = f"WooCommerce variation {stock.product_id} of product {stock.parent_id}"
    else:
        what = f"WooCommerce product {stock.product_id}"
    return stock_report(
        event,
        sku=sku_for_variant(channel, variant_id=stock.product_id, code=stock.sku_code),
        warehouse=warehouse,
        available=stock.quantity,
        reported_at=stock.updated_at,
        describe=what,
    )
