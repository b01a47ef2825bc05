from __future__ import annotations

from django.db.models import Sum

from channels_app.models import Organization
from inventory.models import SKU, Reservation, ReservationStatus, StockLevel, StockMovement, Warehouse
from inventory.services import stock_move


def warehouse(org: Organization, code: str = "main", *, default: bool = True) -> Warehouse:
    return Warehouse.objects.create(organization=org, code=code, name=code.title(), is_default=default)


def sku(org: Organization, code: str, *, on_hand: int = 0, at: Warehouse | None = None) -> SKU:
    item = SKU.objects.create(organization=org, code=code, title=code)
    if on_hand:
        assert at is not None
        stock_move(sku_id=item.pk, warehouse_id=at.pk, quantity=on_hand, reason="import", reference="test")
    return item


def level(item: SKU, at: Warehouse) -> StockLevel:
    return StockLevel.objects.get(sku=item, warehouse=at)


def assert_invariants() -> None:
    """For every level: reserved = its open reservations; on hand = the sum of its movements."""
    for lvl in StockLevel.objects.all():
        open_units = (
            Reservation.objects.filter(
                sku=lvl.sku, warehouse=lvl.warehouse, status=ReservationStatus.OPEN
            ).aggregate(n=Sum("quantity"))["n"]
            or 0
        )
        moved = (
            StockMovement.objects.filter(sku=lvl.sku, warehouse=lvl.warehouse).aggregate(n=Sum("quantity"))[
                "n"
            ]
            or 0
        )
        assert lvl.reserved == open_units, lvl
        assert lvl.on_hand == moved, lvl
