"""Mapping what webhook events name and the hub cannot resolve yet, then running them again.

A stock report for an inventory item no SKU maps, or for a location mapped to no warehouse, ends
NEEDS_MAPPING with what it names (`mapping_kind`, `mapping_ref`). Once the merchant maps it here,
every event of that channel waiting for the same thing is replayed, as ops' re-process does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from django.db.models import Count, Min, QuerySet

from channels_app.clients import RemoteVariant, client_for
from channels_app.http import PlatformError
from channels_app.models import Channel, ChannelLocation, EventStatus, MappingKind, ProcessedWebhookEvent
from channels_app.sweeper import event_replay
from inventory.catalog import variant_map
from inventory.models import SKU, Warehouse

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Waiting:
    """What one channel's events wait for, and how many of them."""

    channel_id: int
    kind: MappingKind
    ref: str
    events: int
    since: datetime


def waiting_for_mapping(channels: QuerySet[Channel]) -> list[Waiting]:
    """Per channel (of the `channels` queryset) and unmapped thing, the events waiting for it."""
    rows = (
        ProcessedWebhookEvent.objects.filter(status=EventStatus.NEEDS_MAPPING, channel__in=channels)
        .exclude(mapping_kind="")  # Only handlers set the status, always with a kind: never shown blank.
        .values("channel_id", "mapping_kind", "mapping_ref")
        .annotate(n=Count("pk"), since=Min("received_at"))
        .order_by("channel_id", "mapping_kind", "mapping_ref")
    )
    return [
        Waiting(
            row["channel_id"], MappingKind(row["mapping_kind"]), row["mapping_ref"], row["n"], row["since"]
        )
        for row in rows
    ]


def waiting_replay(*, channel_id: int, kind: MappingKind, ref: str) -> int:
    """Put the channel's events waiting for this mapping back on the queue; how many were."""
    waiting = ProcessedWebhookEvent.objects.filter(
        channel_id=channel_id, status=EventStatus.NEEDS_MAPPING, mapping_kind=kind, mapping_ref=ref
    ).only("pk", "status", "request_id", "payload", "source")
    replayed = sum(1 for event in waiting if event_replay(event))
    logger.info("replayed %s events of channel %s waiting for %s %s", replayed, channel_id, kind, ref)
    return replayed


def location_map(*, channel: Channel, location_ref: str, warehouse: Warehouse) -> int:
    """Map the channel's location to the warehouse, then replay what waited for it."""
    if warehouse.organization_id != channel.organization_id:
        raise ValueError(f"warehouse {warehouse.pk} is not of channel {channel.pk}'s organization")
    ChannelLocation.objects.update_or_create(
        channel=channel, external_id=location_ref, defaults={"warehouse": warehouse}
    )
    return waiting_replay(channel_id=channel.pk, kind=MappingKind.LOCATION, ref=location_ref)


def inventory_item_map(*, channel: Channel, inventory_item_ref: str, sku: SKU) -> int:
    """Map the variant of the channel's inventory item to the SKU, then replay what waited for it.

    The variant is asked of the platform first (a mapping is by variant; the event names only
    the item), outside any transaction. Raises PlatformError when the platform cannot say.
    """
    if sku.organization_id != channel.organization_id:
        raise ValueError(f"SKU {sku.pk} is not of channel {channel.pk}'s organization")
    found = client_for(channel).fetch_variants(inventory_item=inventory_item_ref)
    if not found:
        raise PlatformError(
            f"{channel.get_platform_display()} knows no variant of inventory item {inventory_item_ref}",
            permanent=True,
        )
    # Whatever id the platform gives back, the events wait on the item they named.
    return variant_pick(
        channel=channel, sku=sku, variant=replace(found[0], inventory_item_id=inventory_item_ref)
    )


def variant_pick(*, channel: Channel, sku: SKU, variant: RemoteVariant) -> int:
    """Map the variant a merchant picked to the SKU; replay what waited for its inventory item."""
    if sku.organization_id != channel.organization_id:
        raise ValueError(f"SKU {sku.pk} is not of channel {channel.pk}'s organization")
    variant_map(
        channel_id=channel.pk,
        sku_id=sku.pk,
        variant_id=variant.variant_id,
        product_id=variant.product_id,
        inventory_item_id=variant.inventory_item_id,
    )
    if not variant.inventory_item_id:
        return 0
    return waiting_replay(
        channel_id=channel.pk, kind=MappingKind.INVENTORY_ITEM, ref=variant.inventory_item_id
    )
