"""Stock levels as merchants give them in CSV (`sku,warehouse,on_hand`, and a new SKU's `title`):
each row checked the same way by the import_stock command and by the admin's import, every bad
row named with its line (not only the first), and a good row written through the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from channels_app.spreadsheets import RowError, spreadsheet_unquoted
from inventory.models import SKU, MovementReason, StockMovement, Warehouse
from inventory.services import stock_set

COLUMNS = ("sku", "warehouse", "on_hand")  # every file has these; "title" may follow
SLUG = re.compile(r"[-a-zA-Z0-9_]+")
MAX_ON_HAND = 2**31 - 1  # The largest figure the database's integer column holds.


@dataclass(frozen=True)
class StockRow:
    """One row of a file, checked: codes as stored, on hand a whole number."""

    sku: str
    warehouse: str
    on_hand: int
    title: str = ""


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str


def stock_row_read(row: Mapping[str, Any]) -> StockRow:
    """A row of a file, checked; RowError names the cell at fault and why."""

    def cell(column: str) -> str:
        value = row.get(column)
        return "" if value is None else spreadsheet_unquoted(str(value).strip())

    sku, warehouse, on_hand = cell("sku"), cell("warehouse"), cell("on_hand")
    for column, value in (("sku", sku), ("warehouse", warehouse), ("on_hand", on_hand)):
        if not value:
            raise RowError(column, f"{column} is empty")
    if len(sku) > SKU._meta.get_field("code").max_length:  # type: ignore[operator]
        raise RowError("sku", f"sku {sku[:20]!r}... is longer than 100 characters")
    if not SLUG.fullmatch(warehouse) or len(warehouse) > 50:
        raise RowError(
            "warehouse", f"warehouse {warehouse[:50]!r} is not a code (up to 50 letters, digits, - and _)"
        )
    if not (on_hand.isascii() and on_hand.isdigit()) or int(on_hand) > MAX_ON_HAND:
        raise RowError("on_hand", f"on_hand {on_hand[:20]!r} is not a whole number >= 0")
    return StockRow(sku, warehouse, int(on_hand), cell("title")[:255])


class RowsSeen:
    """The rows of one file so far: a SKU and warehouse given twice is a mistake, not an update."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], int] = {}

    def add(self, line: int, row: StockRow) -> None:
        first = self.lines.setdefault((row.sku, row.warehouse), line)
        if first != line:
            raise RowError("sku", f"{row.sku} at {row.warehouse} repeats line {first}")


def stock_rows_check(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
) -> tuple[list[tuple[int, StockRow]], list[RowProblem]]:
    """Every row of a file (with its line) read: the good ones, and each bad one with its reason."""
    good: list[tuple[int, StockRow]] = []
    problems: list[RowProblem] = []
    seen = RowsSeen()
    for line, cells in rows:
        try:
            row = stock_row_read(cells)
            seen.add(line, row)
        except RowError as exc:
            problems.append(RowProblem(line, str(exc)))
        else:
            good.append((line, row))
    return good, problems


def stock_row_place(*, organization_id: int, row: StockRow) -> tuple[SKU, Warehouse]:
    """The organization's SKU and warehouse of the row, created when new (a new SKU takes the row's
    title; the organization's first warehouse becomes its default, which orders fall back on)."""
    warehouse, created = Warehouse.objects.get_or_create(
        organization_id=organization_id, code=row.warehouse, defaults={"name": row.warehouse}
    )
    if created and not Warehouse.objects.filter(organization_id=organization_id, is_default=True).exists():
        Warehouse.objects.filter(pk=warehouse.pk).update(is_default=True)
    sku, _ = SKU.objects.get_or_create(
        organization_id=organization_id, code=row.sku, defaults={"title": row.title}
    )
    return sku, warehouse


@transaction.atomic
def stock_row_import(
    *, organization_id: int, row: StockRow, reference: str, note: str = ""
) -> StockMovement | None:
    """The row's level set to its on hand, as the ledger's movement (None: it held that already)."""
    sku, warehouse = stock_row_place(organization_id=organization_id, row=row)
    return stock_set(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        on_hand=row.on_hand,
        reason=MovementReason.IMPORT,
        reference=reference,
        note=note,
    )
