"""Orders from every platform, in one shape, and what they do to stock.

Each platform's payloads module parses its order into `OrderData`; `order_sync` upserts it and
applies the stock rules in the caller's transaction (the webhook handler's, which also records the
event's outcome):

- a paid (or authorized) order reserves each resolved line from the order's warehouse
  (`Channel.warehouse_for`, chosen once and kept); not enough stock flags the line backordered,
  unless the channel allows backorders;
- a cancelled, refunded, voided or deleted order releases what it reserved, and so does a line
  the platform dropped or edited down to nothing;
- a fulfilled line's units leave the warehouse once: its reservation is consumed, or, when it held
  none (shipped unpaid, or backordered), the units go out all the same.

All the stock levels an order touches are locked first, in one order, so two orders changing the
same levels cannot deadlock.

Updates older than the stored one (by the platform's updated_at) change nothing, so a Shopify
retry carrying a stale payload, or an old `updated` after a newer one, is ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from channels_app.models import Channel
from inventory.models import SKU, ChannelVariant, Reservation, ReservationStatus
from inventory.services import (
    ReservationRequest,
    levels_for_update,
    reservation_release,
    stock_fulfil,
    stock_reserve,
)
from orders.events import commerce_event_record
from orders.models import (
    RELEASING_STATUSES,
    RESERVING_STATUSES,
    CommerceEventKind,
    LineIssue,
    Order,
    OrderItem,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineData:
    external_line_id: str
    quantity: int
    unit_price: Decimal
    title: str = ""
    sku_code: str = ""
    external_variant_id: str = ""
    fulfilled: bool = False
    # Ids the line may be stored under from before the platform (or the hub) named it this way.
    former_line_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderData:
    external_id: str
    number: str = ""
    customer_name: str = ""
    email: str = ""
    phone: str = ""
    shipping_address: dict[str, Any] = field(default_factory=dict)
    billing_address: dict[str, Any] = field(default_factory=dict)
    currency: str = ""
    subtotal: Decimal = Decimal(0)
    total_tax: Decimal = Decimal(0)
    total_discounts: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    financial_status: str = "pending"
    fulfillment_status: str = "unfulfilled"
    platform_status: str = ""
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    location_id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    lines: tuple[LineData, ...] = ()


@dataclass(frozen=True)
class SyncResult:
    order: Order | None
    stale: bool = False
    reserved: int = 0
    released: int = 0
    consumed: int = 0


def order_sync(*, channel: Channel, data: OrderData, event_id: int | None = None) -> SyncResult:
    """Upsert the order and apply the stock rules, in one transaction.

    `event_id`, the webhook event carrying `data`, orders two updates stamped with the same
    second (WooCommerce's resolution): the one received later wins, whichever worker is faster.
    """
    with transaction.atomic():
        # get_or_create, then lock: two first deliveries of one order (create and paid) race here.
        Order.objects.get_or_create(
            channel=channel,
            external_id=data.external_id,
            defaults={"organization_id": channel.organization_id},
        )
        order = Order.objects.select_for_update().get(channel=channel, external_id=data.external_id)
        if order.platform_updated_at and data.updated_at:
            same_second_earlier = (
                data.updated_at == order.platform_updated_at
                and event_id is not None
                and order.last_event_id is not None
                and event_id < order.last_event_id
            )
            if data.updated_at < order.platform_updated_at or same_second_earlier:
                return SyncResult(order, stale=True)
        if event_id is not None:
            order.last_event_id = max(event_id, order.last_event_id or 0)
        was_paid, was_cancelled = order.financial_status == "paid", order.cancelled_at is not None
        _copy_order_fields(order, data)
        _commerce_events(order, was_paid=was_paid, was_cancelled=was_cancelled)
        if order.warehouse_id is None:
            # Chosen once: moving held units because a mapping changed later would be a surprise.
            order.warehouse = channel.warehouse_for(data.location_id)
        order.save()
        items, dropped = _upsert_items(order, channel, data.lines)
        result = _apply_stock_rules(order, items, dropped, allow_backorder=channel.allow_backorders)
        order.needs_attention = any(item.issue for item in items)
        order.save(update_fields=["needs_attention", "updated_at"])
    return result


def order_delete(*, channel: Channel, external_id: str) -> SyncResult:
    """The platform deleted the order: keep it, marked deleted, and release its stock."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(channel=channel, external_id=external_id).first()
        if order is None:
            return SyncResult(None)
        if order.deleted_at is None:
            order.deleted_at = timezone.now()
            order.save(update_fields=["deleted_at", "updated_at"])
        result = _apply_stock_rules(order, [], list(order.items.all()), allow_backorder=False)
    return result


def _commerce_events(order: Order, *, was_paid: bool, was_cancelled: bool) -> None:
    """Record that the order became paid, or was cancelled (`orders.events`)."""
    if order.pk and order.financial_status == "paid" and not was_paid and order.cancelled_at is None:
        commerce_event_record(kind=CommerceEventKind.ORDER_PAID, order_id=order.pk)
    if order.pk and order.cancelled_at is not None and not was_cancelled:
        commerce_event_record(kind=CommerceEventKind.ORDER_CANCELLED, order_id=order.pk)


def _copy_order_fields(order: Order, data: OrderData) -> None:
    for name in (
        "number",
        "customer_name",
        "email",
        "phone",
        "shipping_address",
        "billing_address",
        "currency",
        "subtotal",
        "total_tax",
        "total_discounts",
        "total",
        "financial_status",
        "fulfillment_status",
        "platform_status",
        "cancelled_at",
        "cancel_reason",
    ):
        setattr(order, name, getattr(data, name))
    order.platform_created_at = data.created_at
    order.platform_updated_at = data.updated_at
    if data.platform_status != "trash":
        order.deleted_at = None  # The platform restored it from the trash.


def _resolve_skus(channel: Channel, lines: tuple[LineData, ...]) -> dict[str, SKU]:
    """The SKU of each line, by line id: found by the channel's variant mapping first, then by
    SKU code in the organization. A line neither resolves is left out."""
    variant_ids = {line.external_variant_id for line in lines if line.external_variant_id}
    by_variant = {
        v.external_variant_id: v.sku
        for v in ChannelVariant.objects.select_related("sku").filter(
            channel=channel, external_variant_id__in=variant_ids
        )
    }
    codes = {line.sku_code for line in lines if line.sku_code}
    by_code = {s.code: s for s in SKU.objects.filter(organization_id=channel.organization_id, code__in=codes)}
    resolved = {}
    for line in lines:
        sku = by_variant.get(line.external_variant_id) or by_code.get(line.sku_code)
        if sku is not None:
            resolved[line.external_line_id] = sku
    return resolved


def _upsert_items(
    order: Order, channel: Channel, lines: tuple[LineData, ...]
) -> tuple[list[OrderItem], list[OrderItem]]:
    """The order's lines as the platform sent them, and its stored lines the platform dropped."""
    skus = _resolve_skus(channel, lines)
    existing = {item.external_line_id: item for item in order.items.all()}
    sent = {line.external_line_id for line in lines}
    items = []
    for line in lines:
        item = (
            existing.pop(line.external_line_id, None)
            or _renamed(existing, line, sent)
            or OrderItem(order=order, external_line_id=line.external_line_id)
        )
        item.external_variant_id = line.external_variant_id
        item.sku = skus.get(line.external_line_id)
        item.sku_code = line.sku_code
        item.title = line.title[:255]
        item.quantity = line.quantity
        item.unit_price = line.unit_price
        item.fulfilled = line.fulfilled
        item.issue = LineIssue.NONE if item.sku else LineIssue.UNRESOLVED_SKU
        item.save()
        items.append(item)
    dropped = list(existing.values())
    # A line the platform dropped is kept for the record, holding nothing: the stock rules release
    # what it held.
    for item in dropped:
        item.quantity = 0
        item.issue = LineIssue.NONE
        item.save(update_fields=["quantity", "issue"])
    return items, dropped


def _renamed(existing: dict[str, OrderItem], line: LineData, sent: set[str]) -> OrderItem | None:
    """The row stored under one of the line's former ids, given the line's id now.

    The row, and so its reservation, carries over: a new row would hold the units again, or take
    them a second time once shipped. A former id that another line of this payload has now is
    that line's.
    """
    for former in line.former_line_ids:
        if former in existing and former not in sent:
            item = existing.pop(former)
            item.external_line_id = line.external_line_id
            return item
    return None


def _apply_stock_rules(
    order: Order, items: list[OrderItem], dropped: list[OrderItem], *, allow_backorder: bool
) -> SyncResult:
    ending = order.is_cancelled or order.financial_status in RELEASING_STATUSES
    holding = not ending and order.financial_status in RESERVING_STATUSES
    resolved = [item for item in items if item.sku_id and item.quantity > 0]
    # Lines that take stock: held while paid, or gone out once fulfilled (paid or not).
    taking = [item for item in resolved if (holding or (item.fulfilled and not ending))]
    if order.warehouse_id is None:
        for item in taking:
            _set_issue(item, LineIssue.NO_WAREHOUSE)
        taking = []
    requests = {
        item.reservation_reference: ReservationRequest(
            reference=item.reservation_reference,
            sku_id=item.sku_id,
            warehouse_id=order.warehouse_id,
            quantity=item.quantity,
            channel_id=order.channel_id,
        )
        for item in taking
        if item.sku_id is not None and order.warehouse_id is not None
    }
    references = [item.reservation_reference for item in items + dropped]
    open_held = Reservation.objects.filter(reference__in=references, status=ReservationStatus.OPEN)
    levels_for_update(
        [(r.sku_id, r.warehouse_id) for r in open_held]
        + [(r.sku_id, r.warehouse_id) for r in requests.values()]
    )
    released = sum(
        reservation_release(reference=reference)
        for reference in sorted(references)
        if reference not in requests
    )
    reserved = consumed = 0
    for item in taking:
        request = requests[item.reservation_reference]
        if item.fulfilled:
            consumed += stock_fulfil(request, movement_reference=f"order:{order.pk}")
        elif stock_reserve(request, allow_backorder=allow_backorder) is None:
            _set_issue(item, LineIssue.BACKORDERED)
        else:
            reserved += 1
    return SyncResult(order, reserved=reserved, released=released, consumed=consumed)


def _set_issue(item: OrderItem, issue: str) -> None:
    item.issue = issue
    item.save(update_fields=["issue"])
    logger.info("order line flagged", extra={"order_item_id": item.pk, "issue": issue})
