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

from django.db import connection, transaction
from django.utils import timezone

from channels_app.models import Channel
from config.statements import insert_all, insert_new, placeholders, select
from inventory.models import SKU, ChannelVariant
from inventory.services import ReservationRequest, stock_locked
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
    # In the caller's transaction when there is one (a handler's): no savepoint to pay for.
    with transaction.atomic(savepoint=False):
        order, created = _order_for_update(channel, data, event_id)
        if created:
            was_paid = was_cancelled = False
        else:
            if _stale(order, data, event_id):
                return SyncResult(order, stale=True)
            was_paid, was_cancelled = order.financial_status == "paid", order.cancelled_at is not None
            _order_fill(order, channel, data, event_id)
            order.save()
        _commerce_events(order, was_paid=was_paid, was_cancelled=was_cancelled)
        items, dropped = _upsert_items(order, channel, data.lines, created=created)
        result = _apply_stock_rules(
            order, items, dropped, allow_backorder=channel.allow_backorders, holding_nothing=created
        )
        needs_attention = any(item.issue for item in items)
        if needs_attention != order.needs_attention:
            order.needs_attention = needs_attention
            order.save(update_fields=["needs_attention", "updated_at"])
    return result


def _order_for_update(channel: Channel, data: OrderData, event_id: int | None) -> tuple[Order, bool]:
    """The order, locked; or, the first time it is heard of, created from `data` (True)."""
    stored = _order_locked(channel, data.external_id)
    if stored is not None:
        return stored, False
    order = Order(channel=channel, organization_id=channel.organization_id, external_id=data.external_id)
    _order_fill(order, channel, data, event_id)
    if insert_new(order, unique=["channel", "external_id"]):
        return order, True
    # Two first deliveries of one order (create and paid) raced: the other's row is committed
    # now, and this one is an update of it.
    stored = _order_locked(channel, data.external_id)
    if stored is None:
        raise Order.DoesNotExist(f"order {data.external_id} was stored by another event and deleted since")
    return stored, False


def _order_locked(channel: Channel, external_id: str) -> Order | None:
    """The stored order, locked until the transaction ends (by hand: config.statements)."""
    where = "WHERE channel_id = %s AND external_id = %s"
    found = select(Order, where, [channel.pk, external_id], for_update=True)
    return found[0] if found else None


def _stale(order: Order, data: OrderData, event_id: int | None) -> bool:
    """Whether `data` is older than what the order holds (by the platform's updated_at)."""
    if not (order.platform_updated_at and data.updated_at):
        return False
    same_second_earlier = (
        data.updated_at == order.platform_updated_at
        and event_id is not None
        and order.last_event_id is not None
        and event_id < order.last_event_id
    )
    return data.updated_at < order.platform_updated_at or same_second_earlier


def _order_fill(order: Order, channel: Channel, data: OrderData, event_id: int | None) -> None:
    if event_id is not None:
        order.last_event_id = max(event_id, order.last_event_id or 0)
    _copy_order_fields(order, data)
    if order.warehouse_id is None:
        # Chosen once: moving held units because a mapping changed later would be a surprise.
        order.warehouse = channel.warehouse_for(data.location_id)


def order_delete(*, channel: Channel, external_id: str) -> SyncResult:
    """The platform deleted the order: keep it, marked deleted, and release its stock."""
    with transaction.atomic(savepoint=False):
        order = _order_locked(channel, external_id)
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


def _resolve_skus(channel: Channel, lines: tuple[LineData, ...]) -> dict[str, int]:
    """The SKU id of each line, by line id: found by the channel's variant mapping first, then by
    SKU code in the organization. A line neither resolves is left out.

    Both lookups in one statement, written by hand: every order event asks."""
    variant_ids = sorted({line.external_variant_id for line in lines if line.external_variant_id})
    codes = sorted({line.sku_code for line in lines if line.sku_code})
    parts: list[str] = []
    params: list[int | str] = []
    if variant_ids:
        parts.append(
            f"SELECT 'variant', external_variant_id, sku_id FROM {ChannelVariant._meta.db_table} "
            f"WHERE channel_id = %s AND external_variant_id IN ({placeholders(variant_ids)})"
        )
        params += [channel.pk, *variant_ids]
    if codes:
        parts.append(
            f"SELECT 'code', code, id FROM {SKU._meta.db_table} "
            f"WHERE organization_id = %s AND code IN ({placeholders(codes)})"
        )
        params += [channel.organization_id, *codes]
    found: dict[tuple[str, str], int] = {}
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            found = {(kind, key): sku_id for kind, key, sku_id in cursor.fetchall()}
    resolved = {}
    for line in lines:
        sku_id = found.get(("variant", line.external_variant_id)) or found.get(("code", line.sku_code))
        if sku_id is not None:
            resolved[line.external_line_id] = sku_id
    return resolved


def _upsert_items(
    order: Order, channel: Channel, lines: tuple[LineData, ...], *, created: bool
) -> tuple[list[OrderItem], list[OrderItem]]:
    """The order's lines as the platform sent them, and its stored lines the platform dropped.
    Only what changed is written: the lines of a new order in one statement, a stored line when
    the platform changed it."""
    skus = _resolve_skus(channel, lines)
    stored = [] if created else select(OrderItem, "WHERE order_id = %s ORDER BY id", [order.pk])
    for row in stored:
        row.order = order  # as order.items.all() would: no query to reach it
    existing = {row.external_line_id: row for row in stored}
    sent = {line.external_line_id for line in lines}
    items, new = [], []
    for line in lines:
        item = existing.pop(line.external_line_id, None) or _renamed(existing, line, sent)
        sku_id = skus.get(line.external_line_id)
        values = {
            "external_line_id": line.external_line_id,
            "external_variant_id": line.external_variant_id,
            "sku_id": sku_id,
            "sku_code": line.sku_code,
            "title": line.title[:255],
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "fulfilled": line.fulfilled,
            "issue": LineIssue.NONE if sku_id else LineIssue.UNRESOLVED_SKU,
        }
        if item is None:
            item = OrderItem(order=order, **values)
            new.append(item)
        elif _item_change(item, values):
            item.save()
        items.append(item)
    insert_all(new)
    dropped = list(existing.values())
    # A line the platform dropped is kept for the record, holding nothing: the stock rules release
    # what it held.
    for item in dropped:
        if _item_change(item, {"quantity": 0, "issue": LineIssue.NONE}):
            item.save(update_fields=["quantity", "issue"])
    return items, dropped


def _item_change(item: OrderItem, values: dict[str, Any]) -> bool:
    """Set the values on the stored line; whether any differed."""
    changed = False
    for name, value in values.items():
        if getattr(item, name) != value:
            setattr(item, name, value)
            changed = True
    return changed


def _renamed(existing: dict[str, OrderItem], line: LineData, sent: set[str]) -> OrderItem | None:
    """The row stored under one of the line's former ids (the caller gives it the line's id now).

    The row, and so its reservation, carries over: a new row would hold the units again, or take
    them a second time once shipped. A former id that another line of this payload has now is
    that line's.
    """
    for former in line.former_line_ids:
        if former in existing and former not in sent:
            return existing.pop(former)
    return None


def _apply_stock_rules(
    order: Order,
    items: list[OrderItem],
    dropped: list[OrderItem],
    *,
    allow_backorder: bool,
    holding_nothing: bool = False,
) -> SyncResult:
    """`holding_nothing`: the lines are new (a new order's), so no reservation names them yet and
    none is read."""
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
    pairs = [(request.sku_id, request.warehouse_id) for request in requests.values()]
    with stock_locked(pairs, () if holding_nothing else references) as stock:
        released = sum(
            stock.release(reference) for reference in sorted(references) if reference not in requests
        )
        reserved = consumed = 0
        for item in taking:
            request = requests[item.reservation_reference]
            if item.fulfilled:
                consumed += stock.fulfil(request, movement_reference=f"order:{order.pk}")
            elif stock.reserve(request, allow_backorder=allow_backorder) is None:
                _set_issue(item, LineIssue.BACKORDERED)
            else:
                reserved += 1
    return SyncResult(order, reserved=reserved, released=released, consumed=consumed)


def _set_issue(item: OrderItem, issue: str) -> None:
    item.issue = issue
    item.save(update_fields=["issue"])
    logger.info("order line flagged", extra={"order_item_id": item.pk, "issue": issue})
