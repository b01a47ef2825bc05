"""What WooCommerce webhook topics do (registered in channels_app.handlers)."""

from __future__ import annotations

from channels_app.handlers import Outcome, ignored
from channels_app.models import ChannelLocation, ProcessedWebhookEvent
from channels_app.platforms.stock import sku_for_variant, stock_report
from channels_app.platforms.woocommerce import payloads
from inventory.models import Warehouse
from orders.services import order_delete, order_sync


def order_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """order.created, order.updated: the payload is the whole order as WooCommerce's REST API shows it."""
    result = order_sync(channel=event.channel, data=payloads.order(event.payload))
    return ignored("stale update: older than the stored order") if result.stale else None


def order_deleted_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    result = order_delete(channel=event.channel, external_id=payloads.deleted_id(event.payload))
    return ignored("order not known to the hub") if result.order is None else None


def product_stock_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """product.updated: WooCommerce keeps one stock figure per product, for the whole store."""
    stock = payloads.product_stock(event.payload)
    if stock.quantity is None:
        return ignored("WooCommerce does not manage this product's stock")
    channel = event.channel
    # The store's one stock location: the channel's mapped location if it has one, else the
    # organization's default warehouse.
    location = (
        ChannelLocation.objects.filter(channel=channel, warehouse__isnull=False)
        .select_related("warehouse")
        .first()
    )
    warehouse = (
        location.warehouse
        if location
        else Warehouse.objects.filter(organization_id=channel.organization_id, is_default=True).first()
    )
    if warehouse is None:
        return ignored("no warehouse for the store's stock: map a location or set a default warehouse")
    return stock_report(
        event,
        sku=sku_for_variant(channel, variant_id=stock.product_id, code=stock.sku_code),
        warehouse=warehouse,
        available=stock.quantity,
        reported_at=stock.updated_at,
        describe=f"WooCommerce product {stock.product_id}",
    )
