"""Every change to stock goes through here: the level and its ledger row in one transaction.

Locks: a level is changed only under `SELECT ... FOR UPDATE` of its row (PostgreSQL; SQLite
serializes writers anyway), so two workers reserving the last unit of a SKU see each other's
reservation. Callers locking several levels in one transaction lock them in (sku, warehouse) order,
which `stock_reserve_many` does, so they cannot deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from inventory.models import MovementReason, Reservation, ReservationStatus, StockLevel, StockMovement

logger = logging.getLogger(__name__)

_HOLDING = (ReservationStatus.OPEN, ReservationStatus.CONSUMED)


def level_for_update(*, sku_id: int, warehouse_id: int) -> StockLevel:
    """The level row, created at zero if new, locked until the transaction ends."""
    # get_or_create survives a concurrent creation (it catches the IntegrityError and reads).
    StockLevel.objects.get_or_create(sku_id=sku_id, warehouse_id=warehouse_id)
    return StockLevel.objects.select_for_update().get(sku_id=sku_id, warehouse_id=warehouse_id)


@transaction.atomic
def stock_move(
    *, sku_id: int, warehouse_id: int, quantity: int, reason: str, reference: str = ""
) -> StockMovement | None:
    """Change on hand by `quantity` (negative: out), writing the ledger row. None if 0."""
    if quantity == 0:
        return None
    level = level_for_update(sku_id=sku_id, warehouse_id=warehouse_id)
    level.on_hand += quantity
    level.save(update_fields=["on_hand", "updated_at"])
    return StockMovement.objects.create(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        quantity=quantity,
        on_hand_after=level.on_hand,
        reason=reason,
        reference=reference,
    )


@transaction.atomic
def stock_set(
    *, sku_id: int, warehouse_id: int, on_hand: int, reason: str, reference: str = ""
) -> StockMovement | None:
    """Set on hand to a counted or reported figure, as the movement that gets it there."""
    level = level_for_update(sku_id=sku_id, warehouse_id=warehouse_id)
    return stock_move(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        quantity=on_hand - level.on_hand,
        reason=reason,
        reference=reference,
    )


@dataclass(frozen=True)
class ReservationRequest:
    reference: str
    sku_id: int
    warehouse_id: int
    quantity: int


@transaction.atomic
def stock_reserve(request: ReservationRequest, *, allow_backorder: bool = False) -> Reservation | None:
    """Hold units for `request.reference`: at most one open reservation per reference.

    A replay returns the open reservation as it is. A changed line (quantity, SKU or warehouse)
    releases the old reservation and reserves anew. Units already consumed for the reference are
    not held again. None when the units are not available (and backorders are not allowed): the
    caller flags the line; nothing is over-reserved.
    """
    level = level_for_update(sku_id=request.sku_id, warehouse_id=request.warehouse_id)
    # Read under the level's lock, so a concurrent replay of the same line waits and sees it.
    held = Reservation.objects.filter(reference=request.reference, status__in=_HOLDING).first()
    if held is not None and held.status == ReservationStatus.CONSUMED:
        return held  # the units left the warehouse already
    if held is not None:
        if (held.sku_id, held.warehouse_id, held.quantity) == (
            request.sku_id,
            request.warehouse_id,
            request.quantity,
        ):
            return held
        _close_reservation(request.reference, ReservationStatus.RELEASED)
        level.refresh_from_db()  # the release may have changed this very level
    if level.available < request.quantity and not allow_backorder:
        logger.info(
            "not enough stock to reserve",
            extra={"reference": request.reference, "available": level.available, "wanted": request.quantity},
        )
        return None
    level.reserved += request.quantity
    level.save(update_fields=["reserved", "updated_at"])
    return Reservation.objects.create(
        reference=request.reference,
        sku_id=request.sku_id,
        warehouse_id=request.warehouse_id,
        quantity=request.quantity,
    )


def stock_reserve_many(
    requests: Iterable[ReservationRequest], *, allow_backorder: bool = False
) -> dict[str, Reservation | None]:
    """Reserve several lines in the caller's transaction, locking levels in a fixed order."""
    ordered = sorted(requests, key=lambda r: (r.sku_id, r.warehouse_id, r.reference))
    return {r.reference: stock_reserve(r, allow_backorder=allow_backorder) for r in ordered}


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
