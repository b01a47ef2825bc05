"""Every change to stock goes through here: the level and its ledger row in one transaction.

Locks: a level is changed only under `SELECT ... FOR UPDATE` of its row (PostgreSQL; SQLite
serializes writers anyway), so two workers reserving the last unit of a SKU see each other's
reservation. Whoever changes stock takes `stock_locked`: it locks the reservations of the
references it names, then every level they and the caller's pairs touch, all levels in one
statement in (sku, warehouse) order, so two such transactions cannot deadlock. The changes are
made on those locked rows in memory and written when the block ends, in a few statements for
the lot (an order of five lines costs what an order of one does).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from config.statements import insert_all, placeholders, select, select_also
from inventory.models import MovementReason, Reservation, ReservationStatus, StockLevel, StockMovement
from inventory.stock_push import available_changed, listed_condition

logger = logging.getLogger(__name__)

_HOLDING = (ReservationStatus.OPEN, ReservationStatus.CONSUMED)
Pair = tuple[int, int]  # (sku_id, warehouse_id): one level


def levels_for_update(pairs: Iterable[Pair]) -> dict[Pair, StockLevel]:
    """Lock every (sku, warehouse) level a transaction will change, in one fixed order; a level
    not there yet is created at zero first."""
    return _levels_locked(pairs)[0]


def _levels_locked(pairs: Iterable[Pair]) -> tuple[dict[Pair, StockLevel], set[int]]:
    """`levels_for_update`, and which of their SKUs a channel that is pushed stock lists."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}, set()
    levels, listed = _locked(wanted)
    missing = [pair for pair in wanted if pair not in levels]
    if missing:
        # A concurrent creation of the same level wins the conflict; both then lock the one row.
        StockLevel.objects.bulk_create(
            [StockLevel(sku_id=sku_id, warehouse_id=warehouse_id) for sku_id, warehouse_id in missing],
            ignore_conflicts=True,
        )
        levels, listed = _locked(wanted)
    return levels, listed


def _locked(pairs: list[Pair]) -> tuple[dict[Pair, StockLevel], set[int]]:
    """The levels of `pairs` there are, locked, and the SKUs of them a channel lists (read in the
    same statement: a change nobody is pushed costs no query after its commit). By hand
    (config.statements): every order takes it, and the ORM built its OR of pairs anew each time."""
    match = " OR ".join(["(sku_id = %s AND warehouse_id = %s)"] * len(pairs))
    listed, listed_params = listed_condition(f"{connection.ops.quote_name(StockLevel._meta.db_table)}.sku_id")
    # PostgreSQL locks the rows in the ORDER BY's order (the lock is taken above the sort).
    rows = select_also(
        StockLevel,
        listed,
        listed_params,
        f"WHERE {match} ORDER BY sku_id, warehouse_id",
        [value for pair in pairs for value in pair],
        for_update=True,
    )
    levels = {(level.sku_id, level.warehouse_id): level for level, _ in rows}
    return levels, {level.sku_id for level, is_listed in rows if is_listed}


def level_for_update(*, sku_id: int, warehouse_id: int) -> StockLevel:
    """The level row, created at zero if new, locked until the transaction ends."""
    return levels_for_update([(sku_id, warehouse_id)])[(sku_id, warehouse_id)]


@dataclass(frozen=True)
class ReservationRequest:
    reference: str
    sku_id: int
    warehouse_id: int
    quantity: int
    channel_id: int | None = None


@dataclass
class LockedStock:
    """Locked levels and the reservations holding units of them, changed in memory; `save` writes
    what changed. Taken with `stock_locked`, which saves when its block ends without an error."""

    levels: dict[Pair, StockLevel]
    held: dict[str, Reservation]  # by reference: its open reservation, else its consumed one
    listed: set[int]  # the SKUs of `levels` a channel lists, read with the lock: their changes are pushed
    _created: list[Reservation] = field(default_factory=list)
    _closed: list[Reservation] = field(default_factory=list)
    _movements: list[StockMovement] = field(default_factory=list)
    _changed: set[Pair] = field(default_factory=set)

    def level(self, sku_id: int, warehouse_id: int) -> StockLevel:
        try:
            return self.levels[(sku_id, warehouse_id)]
        except KeyError:
            raise LookupError(
                f"level ({sku_id}, {warehouse_id}) is not locked: name it to stock_locked"
            ) from None

    def move(
        self,
        *,
        sku_id: int,
        warehouse_id: int,
        quantity: int,
        reason: str,
        reference: str = "",
        note: str = "",
    ) -> StockMovement | None:
        """Change on hand by `quantity` (negative: out), with its ledger row. None if 0."""
        if quantity == 0:
            return None
        level = self.level(sku_id, warehouse_id)
        level.on_hand += quantity
        self._changed.add((sku_id, warehouse_id))
        movement = StockMovement(
            sku_id=sku_id,
            warehouse_id=warehouse_id,
            quantity=quantity,
            on_hand_after=level.on_hand,
            reason=reason,
            reference=reference,
            note=note[:500],
        )
        self._movements.append(movement)
        return movement

    def reserve(self, request: ReservationRequest, *, allow_backorder: bool = False) -> Reservation | None:
        """Hold units for `request.reference`: at most one open reservation per reference.

        A replay returns the open reservation as it is; units already consumed are not held again.
        A changed line (quantity, SKU or warehouse) is held anew and its old hold released, but
        only once the new one fits: a line that now wants more than is available keeps what it
        held. None when the units are not available (and backorders are not allowed): the caller
        flags the line; nothing is over-reserved.
        """
        level = self.level(request.sku_id, request.warehouse_id)
        held = self.held.get(request.reference)
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
                extra={
                    "reference": request.reference,
                    "available": level.available,
                    "wanted": request.quantity,
                },
            )
            return None
        self._close(request.reference, ReservationStatus.RELEASED)
        level.reserved += request.quantity
        self._changed.add((request.sku_id, request.warehouse_id))
        return self._hold(request, ReservationStatus.OPEN)

    def fulfil(self, request: ReservationRequest, *, movement_reference: str = "") -> bool:
        """The line's units left the warehouse, once: its open reservation is consumed, or, when
        it held none (unpaid, backordered), the units go out all the same, recorded as consumed."""
        held = self.held.get(request.reference)
        if held is not None and held.status == ReservationStatus.CONSUMED:
            return False
        if held is not None:
            return self.consume(request.reference, movement_reference=movement_reference)
        self._hold(request, ReservationStatus.CONSUMED)
        self.move(
            sku_id=request.sku_id,
            warehouse_id=request.warehouse_id,
            quantity=-request.quantity,
            reason=MovementReason.FULFILLMENT,
            reference=movement_reference or request.reference,
        )
        return True

    def release(self, reference: str) -> bool:
        """Give an open reservation's units back (order cancelled, refunded, deleted)."""
        return self._close(reference, ReservationStatus.RELEASED) is not None

    def consume(self, reference: str, *, movement_reference: str = "") -> bool:
        """The reserved units left the warehouse: on hand and reserved both drop."""
        reservation = self._close(reference, ReservationStatus.CONSUMED)
        if reservation is None:
            return False
        self.move(
            sku_id=reservation.sku_id,
            warehouse_id=reservation.warehouse_id,
            quantity=-reservation.quantity,
            reason=MovementReason.FULFILLMENT,
            reference=movement_reference or reference,
        )
        return True

    def _hold(self, request: ReservationRequest, status: str) -> Reservation:
        reservation = Reservation(
            reference=request.reference,
            sku_id=request.sku_id,
            warehouse_id=request.warehouse_id,
            quantity=request.quantity,
            channel_id=request.channel_id,
            status=status,
        )
        self._created.append(reservation)
        self.held[request.reference] = reservation
        return reservation

    def _close(self, reference: str, status: str) -> Reservation | None:
        """Take an open reservation's units off its level's reserved count."""
        reservation = self.held.get(reference)
        if reservation is None or reservation.status != ReservationStatus.OPEN:
            return None
        level = self.level(reservation.sku_id, reservation.warehouse_id)
        level.reserved -= reservation.quantity
        self._changed.add((reservation.sku_id, reservation.warehouse_id))
        reservation.status = status
        if status == ReservationStatus.RELEASED:
            del self.held[reference]  # released ones are history
        if reservation.pk is not None:
            self._closed.append(reservation)
        return reservation

    def save(self) -> None:
        """Write what changed: closed reservations first (one open per reference), then new ones,
        the levels and the ledger; and ask for a stock push of every changed level a channel lists."""
        now = timezone.now()
        for status in {reservation.status for reservation in self._closed}:
            closed = [reservation.pk for reservation in self._closed if reservation.status == status]
            Reservation.objects.filter(pk__in=closed).update(status=status, updated_at=now)
        insert_all(self._created)
        changed = [self.levels[pair] for pair in sorted(self._changed)]
        for level in changed:
            level.updated_at = now
        _levels_write(changed)
        insert_all(self._movements)
        pushed = sorted(pair for pair in self._changed if pair[0] in self.listed)
        if pushed:
            available_changed(pushed)
        self._created, self._closed, self._movements, self._changed = [], [], [], set()


def _levels_write(levels: list[StockLevel]) -> None:
    """One UPDATE per level, sent together (psycopg pipelines `executemany`): what the ORM's
    bulk_update would do with a CASE per column, without compiling one."""
    if not levels:
        return
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(StockLevel._meta.db_table)} SET {quote('on_hand')} = %s, {quote('reserved')} = %s, "
        f"{quote('updated_at')} = %s WHERE {quote('id')} = %s"
    )
    rows = [
        (level.on_hand, level.reserved, connection.ops.adapt_datetimefield_value(level.updated_at), level.pk)
        for level in levels
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


@contextmanager
def stock_locked(pairs: Iterable[Pair] = (), references: Iterable[str] = ()) -> Iterator[LockedStock]:
    """Lock the reservations holding units for `references`, then their levels and `pairs`'; the
    block changes them on the `LockedStock`, which is saved when it ends without an error.
    Runs in the caller's transaction, which must be open."""
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError("stock_locked runs inside transaction.atomic")
    references = set(references)
    reservations = (
        select(
            Reservation,
            f"WHERE reference IN ({placeholders(sorted(references))}) "
            f"AND status IN ({placeholders(_HOLDING)}) ORDER BY id",
            [*sorted(references), *(status.value for status in _HOLDING)],
            for_update=True,
        )
        if references
        else []  # a new order's lines: none to read
    )
    held: dict[str, Reservation] = {}
    for reservation in reservations:
        # Its open one if it has one, else its first consumed one.
        if reservation.reference not in held or reservation.status == ReservationStatus.OPEN:
            held[reservation.reference] = reservation
    holding = [(r.sku_id, r.warehouse_id) for r in held.values() if r.status == ReservationStatus.OPEN]
    levels, listed = _levels_locked([*pairs, *holding])
    stock = LockedStock(levels, held, listed)
    yield stock
    stock.save()


@transaction.atomic
def stock_move(
    *, sku_id: int, warehouse_id: int, quantity: int, reason: str, reference: str = "", note: str = ""
) -> StockMovement | None:
    """Change on hand by `quantity` (negative: out), writing the ledger row. None if 0."""
    if quantity == 0:
        return None
    with stock_locked([(sku_id, warehouse_id)]) as stock:
        return stock.move(
            sku_id=sku_id,
            warehouse_id=warehouse_id,
            quantity=quantity,
            reason=reason,
            reference=reference,
            note=note,
        )


@transaction.atomic
def stock_set(
    *,
    sku_id: int,
    warehouse_id: int,
    on_hand: int,
    reason: str,
    reference: str = "",
    note: str = "",
    seen_on_hand: int | None = None,
) -> StockMovement | None:
    """Set on hand to a counted or reported figure, as the movement that gets it there; with
    `seen_on_hand`, refused (StockChanged) when the level no longer holds it (`stock_count`)."""
    with stock_locked([(sku_id, warehouse_id)]) as stock:
        level = stock.level(sku_id, warehouse_id)
        if seen_on_hand is not None and level.on_hand != seen_on_hand:
            raise StockChanged(level.on_hand)
        return stock.move(
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
    return stock_set(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        on_hand=on_hand,
        seen_on_hand=seen_on_hand,
        reason=reason,
        reference=reference,
        note=note,
    )


@transaction.atomic
def stock_reserve(request: ReservationRequest, *, allow_backorder: bool = False) -> Reservation | None:
    """`LockedStock.reserve`, on its own."""
    with stock_locked([(request.sku_id, request.warehouse_id)], [request.reference]) as stock:
        return stock.reserve(request, allow_backorder=allow_backorder)


@transaction.atomic
def stock_fulfil(request: ReservationRequest, *, movement_reference: str = "") -> bool:
    """`LockedStock.fulfil`, on its own."""
    with stock_locked([(request.sku_id, request.warehouse_id)], [request.reference]) as stock:
        return stock.fulfil(request, movement_reference=movement_reference)


@transaction.atomic
def reservation_release(*, reference: str) -> bool:
    """Give an open reservation's units back (order cancelled, refunded, deleted)."""
    with stock_locked(references=[reference]) as stock:
        return stock.release(reference)


@transaction.atomic
def reservation_consume(*, reference: str, movement_reference: str = "") -> bool:
    """The reserved units left the warehouse: on hand and reserved both drop."""
    with stock_locked(references=[reference]) as stock:
        return stock.consume(reference, movement_reference=movement_reference)
