"""Orders as CSV, for a merchant's spreadsheet or accounting tool."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from io import StringIO

from orders.addresses import address_lines
from orders.models import Order

COLUMNS = (
    "number",
    "channel",
    "created",
    "customer",
    "email",
    "phone",
    "financial status",
    "fulfillment status",
    "currency",
    "subtotal",
    "tax",
    "discounts",
    "total",
    "lines",
    "shipping address",
    "problem",
)
# A cell starting with one of these is run as a formula by spreadsheets: the customer's name or
# an order line's title are the buyer's words, so such a cell gets a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def orders_csv(orders: Iterable[Order]) -> str:
    """One row per order, its lines in one cell (`2 x SKU title; ...`). `orders` should prefetch
    `items` and select `channel`."""
    out = StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for order in orders:
        lines = "; ".join(
            f"{item.quantity} x {_joined(item.sku_code, item.title)}" for item in order.items.all()
        )
        problems = sorted({item.get_issue_display() for item in order.items.all() if item.issue})
        row = (
            order.number or order.external_id,
            order.channel.name,
            order.platform_created_at.isoformat() if order.platform_created_at else "",
            order.customer_name,
            order.email,
            order.phone,
            order.get_financial_status_display(),
            order.get_fulfillment_status_display(),
            order.currency,
            order.subtotal,
            order.total_tax,
            order.total_discounts,
            order.total,
            lines,
            ", ".join(address_lines(order.shipping_address)),
            "; ".join(problems) or ("needs attention" if order.needs_attention else ""),
        )
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _joined(*parts: str) -> str:
    return " ".join(part for part in parts if part)
