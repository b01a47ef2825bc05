"""Stock figures reported by a channel, into the ledger (called by every platform's handlers)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Sum

from channels_app.models import Channel, ChannelLocation, MappingKind, ProcessedWebhookEvent
from channels_app.outcomes import NeedsMapping, Outcome, ignored
from inventory.models import SKU, ChannelVariant, MovementReason, Reservation, ReservationStatus, Warehouse
from inventory.services import level_for_update, stock_set
from inventory.stock_push import channel_reported, push_pending, read_before_push


def sku_for_variant(
    channel: Channel, *, variant_id: str = "", inventory_item_id: str = "", code: str = ""
) -> SKU | None:
    variants = ChannelVariant.objects.select_related("sku").filter(channel=channel)
    mapped = None
    if inventory_item_id:
        mapped = variants.filter(external_inventory_item_id=inventory_item_id).first()
    if mapped is None and variant_id:
        mapped = variants.filter(external_variant_id=variant_id).first()
    if mapped is not None:
        return mapped.sku
    return SKU.objects.filter(organization_id=channel.organization_id, code=code).first() if code else None


def warehouse_for_location(channel: Channel, location_id: str) -> Warehouse:
    """The warehouse a channel location is mapped to; an unmapped location is not guessed: the
    event waits for the merchant to map it (NEEDS_MAPPING), then the mapping screen replays it."""
    location = (
        ChannelLocation.objects.select_related("warehouse")
        .filter(channel=channel, external_id=location_id)
        .first()
    )
    if location is None or location.warehouse is None:
        raise NeedsMapping(
            f"location {location_id} of channel {channel.pk} is not mapped to a warehouse: map it on the "
            "needs-mapping screen, and the events waiting for it run again",
            kind=MappingKind.LOCATION,
            ref=location_id,
        )
    return location.warehouse


def level_reserved(sku: SKU, warehouse: Warehouse) -> int:
    """Units every channel's open orders hold at this level.

    A platform's figure is what it can still sell: its own orders' commits are out of it, and so
    are the other channels' holds, since the hub pushes each channel on hand less every hold. So
    on hand is the figure plus every hold. (An approximation still: the hub holds units for paid
    orders only, where Shopify also commits for pending ones.)
    """
    held = Reservation.objects.filter(sku=sku, warehouse=warehouse, status=ReservationStatus.OPEN).aggregate(
        n=Sum("quantity")
    )
    return held["n"] or 0


def stock_report(
    event: ProcessedWebhookEvent,
    *,
    sku: SKU | None,
    warehouse: Warehouse,
    available: int,
    reported_at: datetime | None,
    describe: str,
    location: str = "",
    inventory_item: str = "",
) -> Outcome | None:
    """Set the level so that its availability for this channel matches what the channel reports.

    A report for an `inventory_item` no SKU maps waits for the merchant to map it (NEEDS_MAPPING);
    without one (a platform that names variants, not items) it is ignored.
    """
    if sku is None and inventory_item:
        raise NeedsMapping(
            f"no SKU maps {describe}: map it on the needs-mapping screen, and the events waiting for it "
            "run again",
            kind=MappingKind.INVENTORY_ITEM,
            ref=inventory_item,
        )
    if sku is None:
        return ignored(f"no SKU maps {describe}")
    level = level_for_update(sku_id=sku.pk, warehouse_id=warehouse.pk)
    if reported_at and level.channel_reported_at and reported_at < level.channel_reported_at:
        return ignored("stale stock update: older than the last one applied")
    if reported_at and read_before_push(
        channel_id=event.channel_id, sku_id=sku.pk, location=location, reported_at=reported_at
    ):
        # Whichever comes first, this or the push's echo: the push has set the channel since.
        return ignored("stale stock update: read before the hub's last push was applied")
    if channel_reported(channel_id=event.channel_id, sku_id=sku.pk, location=location, available=available):
        # The channel telling us the figure we just pushed: orders since then already count.
        return ignored("echo of the hub's own stock push")
    if push_pending(channel_id=event.channel_id, sku_id=sku.pk, location=location):
        # The hub has a newer figure for this channel on its way: it wins (the push sets it there).
        return ignored("the hub's own newer figure is being pushed to the channel")
    on_hand = available + level_reserved(sku, warehouse)
    stock_set(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        on_hand=on_hand,
        reason=MovementReason.CHANNEL,
        reference=f"event:{event.pk}",
    )
    if reported_at:
        type(level).objects.filter(pk=level.pk).update(channel_reported_at=reported_at)
    return None
