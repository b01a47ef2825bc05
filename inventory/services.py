"""Every change to stock goes through here: the level and its ledger row in one transaction.

Locks: a level is changed only under `SELECT ... FOR UPDATE` of its row (PostgreSQL; SQLite
serializes writers anyway), so two workers reserving the last unit of a SKU see each other's
reservation. A caller that changes several levels in one transaction locks all of them first, in
(sku, warehouse) order, with `levels_for_update`; later locks of the same rows are then its own,
so two such transactions cannot deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from inventory.models import MovementReason, Reservation, ReservationStatus, StockLevel, StockMovement
from inventory.stock_push import available_changed

logger = logging.getLogger(__name__)

_HOLDING = (ReservationStatus.OPEN, ReservationStatus.CONSUMED)


def level_for_update(*, sku_id: int, warehouse_id: int) -> StockLevel:
    """The level row, created at zero if new, locked until the transaction ends."""
    # get_or_create survives a concurrent creation (it catches the IntegrityError and reads).
    StockLevel.objects.get_or_create(sku_id=sku_id, warehouse_id=warehouse_id)
    return StockLevel.objects.select_for_update().get(sku_id=sku_id, warehouse_id=warehouse_id)


def levels_for_update(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StockLevel]:
    """Lock every (sku, warehouse) level a transaction will change, in one fixed order."""
    wanted = sorted(set(pairs))
    for sku_id, warehouse_id in wanted:
        StockLevel.objects.get_or_create(sku_id=sku_id, warehouse_id=warehouse_id)
    if not wanted:
        return {}
    match = Q()
    for sku_id, warehouse_id in wanted:
        match |= Q(sku_id=sku_id, warehouse_id=warehouse_id)
    # PostgreSQL locks the rows in the ORDER BY's order (the lock is taken above the sort).
    levels = StockLevel.objects.select_for_update().filter(match).order_by("sku_id", "warehouse_id")
    return {(level.sku_id, level.warehouse_id): level for level in levels}


@transaction.atomic
def stock_move(
    *, sku_id: int, warehouse_id: int, quantity: int, reason: str, reference: str = "", note: str = ""
) -> StockMovement | None:
    """Change on hand by `quantity` (negative: out), writing the ledger row. None if 0."""
    if quantity == 0:
        return None
    level = level_for_update(sku_id=sku_id, warehouse_id=warehouse_id)
    level.on_hand += quantity
    level.save(update_fields=["on_hand", "updated_at"])
    available_changed(sku_id=sku_id, warehouse_id=warehouse_id)
    return StockMovement.objects.create(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        quantity=quantity,
        on_hand_after=level.on_hand,
        reason=reason,
        reference=reference,
        note=note[:500],
    )


@transaction.atomic
def stock_set(
    *, sku_id: int, warehouse_id: int, on_hand: int, reason: str, reference: str = "", note: str = ""
) -> StockMovement | None:
    """Set on hand to a counted or reported figure, as the movement that gets it there."""
    level = level_for_update(sku_id=sku_id, warehouse_id=warehouse_id)
    return stock_move(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        quantity=on_hand - level.on_hand,
        reason=reason,
        reference=reference,
        note=note,
    )


class StockChanged(Exception):
    """The level moved since a person read it; `on_hand` is what it holds now."""

    def __init__(self, on_hand: int) -> None:
        super().__init__(f"on hand is {on_hand} now")
        self.on_hand = on_hand


@transaction.atomic
def stock_count(
    *,
    sku_id: int,
    warehouse_id: int,
    on_hand: int,
    seen_on_hand: int,
    reason: str,
    reference: str = "",
    note: str = "",
) -> StockMovement | None:
    """Set on hand to a figure a person gave having seen `seen_on_hand`. Refused (StockChanged)
    when the level moved since: the figure would silently undo what happened meanwhile (an order
    shipped, a channel's report)."""
    level = level_for_update(sku_id=sku_id, warehouse_id=warehouse_id)
    if level.on_hand != seen_on_hand:
        raise StockChanged(level.on_hand)
    # The level is read and locked already: the movement is the difference, as stock_set makes it.
    return stock_move(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        quantity=on_hand - level.on_hand,
        reason=reason,
        reference=reference,
        note=note,
    )


@dataclass(frozen=True)
class ReservationRequest:
    reference: str
    sku_id: int
    warehouse_id: int
    quantity: int
    channel_id: int | None = None


def _held(reference: str) -> Reservation | None:
    """The open or consumed reservation of a reference (released ones are history)."""
    return Reservation.objects.filter(reference=reference, status__in=_HOLDING).first()


@transaction.atomic
def stock_reserve(request: ReservationRequest, *, allow_backorder: bool = False) -> Reservation | None:
    """Hold units for `request.reference`: at most one open reservation per reference.

    A replay returns the open reservation as it is; units already consumed are not held again.
    A changed line (quantity, SKU or warehouse) is held anew and its old hold released, but only
    once the new one fits: a line that now wants more than is available keeps what it held. None
    when the units are not available (and backorders are not allowed): the caller flags the line;
    nothing is over-reserved.
    """
    level = level_for_update(sku_id=request.sku_id, warehouse_id=request.warehouse_id)
    # Read under the level's lock, so a concurrent replay of the same line waits and sees it.
    held = _held(request.reference)
    if held is not None and (
        held.status == ReservationStatus.CONSUMED
        or (held.sku_id, held.warehouse_id, held.quantity)
        == (request.sku_id, request.warehouse_id, request.quantity)
    ):
        return held
    same_level = held is not None and (held.sku_id, held.warehouse_id) == (
        request.sku_id,
        request.warehouse_id,
    )
    own_units = held.quantity if held is not None and same_level else 0
    if level.available + own_units < request.quantity and not allow_backorder:
        logger.info(
            "not enough stock to reserve",
            extra={"reference": request.reference, "available": level.available, "wanted": request.quantity},
        )
        return None
    if held is not None:
        _close_reservation(request.reference, ReservationStatus.RELEASED)
        level.refresh_from_db()  # The release may have changed this very level: read it again.
    level.reserved += request.quantity
    level.save(update_fields=["reserved", "updated_at"])
    available_changed(sku_id=level.sku_id, warehouse_id=level.warehouse_id)
    return Reservation.objects.create(
        reference=request.reference,
        sku_id=request.sku_id,
        warehouse_id=request.warehouse_id,
        quantity=request.quantity,
        channel_id=request.channel_id,
    )


@transaction.atomic
def stock_fulfil(request: ReservationRequest, *, movement_reference: str = "") -> bool:
    """The line's units left the warehouse, once: its open reservation is consumed, or, when it
    held none (unpaid, backordered), the units go out all the same, recorded as consumed."""
    level_for_update(sku_id=request.sku_id, warehouse_id=request.warehouse_id)
    held = _held(request.reference)
    if held is not None and held.status == ReservationStatus.CONSUMED:
        return False
    if held is not None:
        return reservation_consume(reference=request.reference, movement_reference=movement_reference)
    Reservation.objects.create(
        reference=request.reference,
        sku_id=request.sku_id,
        warehouse_id=request.warehouse_id,
        quantity=request.quantity,
        channel_id=request.channel_id,
        status=ReservationStatus.CONSUMED,
    )
    stock_move(
        sku_id=request.sku_id,
        warehouse_id=request.warehouse_id,
        quantity=-request.quantity,
        reason=MovementReason.FULFILLMENT,
        reference=movement_reference or request.reference,
    )
    return True


def _close_reservation(reference: str, status: str) -> Reservation | None:
    """Take an open reservation's units off its level's reserved count, under both locks."""
    reservation = (
        Reservation.objects.select_for_update()
        .filter(reference=reference, status=ReservationStatus.OPEN)
        .first()
    )
    if reservation is None:
        return None
    level = level_for_update(sku_id=reservation.sku_id, warehouse_id=reservation.warehouse_id)
    level.reserved -= reservation.quantity
    level.save(update_fields=["reserved", "updated_at"])
    available_changed(sku_id=level.sku_id, warehouse_id=level.warehouse_id)
    reservation.status = status
    reservation.save(update_fields=["status", "updated_at"])
    return reservation


@transaction.atomic
def reservation_release(*, reference: str) -> bool:
    """Give an open reservation's units back (order cancelled, refunded, deleted)."""
    return _close_reservation(reference, ReservationStatus.RELEASED) is not None


@transaction.atomic
def reservation_consume(*, reference: str, movement_reference: str = "") -> bool:
    """The reserved units left the warehouse: on hand and reserved both drop."""
    reservation = _close_reservation(reference, ReservationStatus.CONSUMED)
    if reservation is None:
        return False
    stock_move(
        sku_id=reservation.sku_id,
        warehouse_id=reservation.warehouse_id,
        quantity=-reservation.quantity,
        reason=MovementReason.FULFILLMENT,
        reference=movement_reference or reference,
    )
    return True
