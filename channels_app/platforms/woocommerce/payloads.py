"""WooCommerce webhook payloads (REST v3 resource shapes, as its REST controllers return them)
into the hub's typed objects, each checked against its shape first (channels_app.platforms.shapes)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from channels_app.platforms.parsing import text
from channels_app.platforms.shapes import (
    Currency,
    Id,
    Money,
    MoneyNumber,
    Object,
    Quantity,
    Shape,
    StockLevel,
    Text50,
    Text100,
    Text255,
    When,
    unique_ids,
    validated,
)
from orders.services import LineData, OrderData

# WooCommerce has one status per order; the hub splits it into payment and fulfilment.
_STATUSES = {
    "pending": ("pending", "unfulfilled"),  # awaiting payment
    "on-hold": ("pending", "unfulfilled"),  # awaiting payment confirmation (bank transfer)
    "checkout-draft": ("pending", "unfulfilled"),
    "processing": ("paid", "unfulfilled"),
    "completed": ("paid", "fulfilled"),
    "refunded": ("refunded", "unfulfilled"),
    "failed": ("voided", "unfulfilled"),
    "cancelled": ("pending", "unfulfilled"),
    "trash": ("pending", "unfulfilled"),
}


class _Billing(Shape):
    first_name: Text100 | None = None
    last_name: Text100 | None = None
    email: Text255 | None = None
    phone: Text50 | None = None


class _Line(Shape):
    id: Id
    quantity: Quantity
    subtotal: Money | None = None
    price: MoneyNumber | None = None  # a JSON number, unlike every other amount
    name: Text255 | None = None
    sku: Text100 | None = None
    product_id: Id | None = None
    variation_id: Id | None = None


class _Order(Shape):
    id: Id
    number: Text100 | None = None
    status: Text50 | None = None
    currency: Currency | None = None
    billing: _Billing | None = None
    shipping: Object | None = None
    total_tax: Money | None = None
    discount_total: Money | None = None
    total: Money | None = None
    date_created: When | None = None
    date_created_gmt: When | None = None
    date_modified: When | None = None
    date_modified_gmt: When | None = None
    line_items: Annotated[list[_Line], unique_ids("line item")] = []


def order(payload: Any) -> OrderData:
    shape = validated(_Order, payload, "WooCommerce order")
    status = shape.status or ""
    financial, fulfillment = _STATUSES.get(status, ("pending", "unfulfilled"))
    billing = shape.billing or _Billing()
    modified = shape.date_modified_gmt or shape.date_modified
    lines = tuple(_line(item, fulfilled=fulfillment == "fulfilled") for item in shape.line_items)
    return OrderData(
        external_id=str(shape.id),
        number=shape.number or str(shape.id),
        customer_name=" ".join(filter(None, [billing.first_name, billing.last_name])),
        email=billing.email or "",
        phone=billing.phone or "",
        shipping_address=shape.shipping or {},
        billing_address=payload.get("billing") or {},  # all of it, as WooCommerce sent it
        currency=shape.currency or "",
        subtotal=sum((item.subtotal or Decimal(0) for item in shape.line_items), Decimal(0)),
        total_tax=shape.total_tax or Decimal(0),
        total_discounts=shape.discount_total or Decimal(0),
        total=shape.total or Decimal(0),
        financial_status=financial,
        fulfillment_status=fulfillment,
        platform_status=status,
        cancelled_at=modified if status in ("cancelled", "trash") else None,
        cancel_reason=status if status in ("cancelled", "trash") else "",
        created_at=shape.date_created_gmt or shape.date_created,
        updated_at=modified,
        lines=lines,
    )


def _line(item: _Line, *, fulfilled: bool) -> LineData:
    variant = item.variation_id or item.product_id  # 0 for a simple product's variation
    # `price` is a JSON float; the line's subtotal is a decimal string, before discounts.
    if item.quantity and item.subtotal is not None:
        unit_price = (item.subtotal / item.quantity).quantize(Decimal("0.01"))
    else:
        unit_price = item.price or Decimal(0)
    return LineData(
        external_line_id=str(item.id),
        quantity=item.quantity,
        unit_price=unit_price,
        title=html.unescape(item.name or ""),  # WordPress stores titles HTML-escaped
        sku_code=item.sku or "",
        external_variant_id=text(variant),
        fulfilled=fulfilled,
    )


class _Deleted(Shape):
    id: Id


def deleted_id(payload: Any) -> str:
    return str(validated(_Deleted, payload, "WooCommerce deletion").id)


@dataclass(frozen=True)
class ProductStock:
    product_id: str  # a variation's own id: the hub maps each variation as a variant
    parent_id: str  # a variation's variable product, else ""
    sku_code: str
    quantity: int | None  # None: WooCommerce does not manage this product's stock
    updated_at: datetime | None


class _Product(Shape):
    id: Id
    parent_id: Id | None = None  # 0 for a product; older stores' variation lists leave it out
    sku: Text100 | None = None
    # A variation's is "parent" when its parent product manages the stock.
    manage_stock: bool | Literal["parent"] | None = None
    stock_quantity: StockLevel | None = None
    date_modified: When | None = None
    date_modified_gmt: When | None = None


def product_stock(payload: Any) -> ProductStock:
    shape = validated(_Product, payload, "WooCommerce product")
    managed = shape.manage_stock is True and shape.stock_quantity is not None
    return ProductStock(
        product_id=str(shape.id),
        parent_id=str(shape.parent_id) if shape.parent_id else "",
        sku_code=shape.sku or "",
        quantity=shape.stock_quantity if managed else None,
        updated_at=shape.date_modified_gmt or shape.date_modified,
    )
