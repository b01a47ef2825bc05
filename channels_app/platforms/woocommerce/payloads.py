"""WooCommerce webhook payloads (REST v3 resource shapes) into the hub's typed objects."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels_app.handlers import HandlerError
from channels_app.platforms.parsing import decimal, text, timestamp
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


def order(payload: Any) -> OrderData:
    if not isinstance(payload, dict) or "id" not in payload:
        raise HandlerError("WooCommerce order payload has no id", permanent=True)
    status = text(payload.get("status"))
    financial, fulfillment = _STATUSES.get(status, ("pending", "unfulfilled"))
    billing = payload.get("billing") or {}
    modified = timestamp(payload.get("date_modified_gmt") or payload.get("date_modified"))
    lines = tuple(
        _line(item, fulfilled=fulfillment == "fulfilled") for item in payload.get("line_items") or []
    )
    return OrderData(
        external_id=text(payload["id"]),
        number=text(payload.get("number") or payload["id"]),
        customer_name=" ".join(filter(None, [billing.get("first_name"), billing.get("last_name")])),
        email=text(billing.get("email")),
        phone=text(billing.get("phone")),
        shipping_address=payload.get("shipping") or {},
        billing_address=billing,
        currency=text(payload.get("currency")),
        subtotal=sum((decimal(item.get("subtotal")) for item in payload.get("line_items") or []), Decimal(0)),
        total_tax=decimal(payload.get("total_tax")),
        total_discounts=decimal(payload.get("discount_total")),
        total=decimal(payload.get("total")),
        financial_status=financial,
        fulfillment_status=fulfillment,
        platform_status=status,
        cancelled_at=modified if status in ("cancelled", "trash") else None,
        cancel_reason=status if status in ("cancelled", "trash") else "",
        created_at=timestamp(payload.get("date_created_gmt") or payload.get("date_created")),
        updated_at=modified,
        lines=lines,
    )


def _line(item: dict[str, Any], *, fulfilled: bool) -> LineData:
    variant = item.get("variation_id") or item.get("product_id")  # 0 for a simple product's variation
    quantity = int(item.get("quantity") or 0)
    # `price` is a JSON float; the line's subtotal is a decimal string, before discounts.
    subtotal = decimal(item.get("subtotal"))
    unit_price = (subtotal / quantity).quantize(Decimal("0.01")) if quantity else decimal(item.get("price"))
    return LineData(
        external_line_id=text(item.get("id")),
        quantity=quantity,
        unit_price=unit_price,
        title=html.unescape(text(item.get("name"))),  # WordPress stores titles HTML-escaped
        sku_code=text(item.get("sku")),
        external_variant_id=text(variant),
        fulfilled=fulfilled,
    )


def deleted_id(payload: Any) -> str:
    if not isinstance(payload, dict) or "id" not in payload:
        raise HandlerError("WooCommerce deletion payload has no id", permanent=True)
    return text(payload["id"])


@dataclass(frozen=True)
class ProductStock:
    product_id: str
    sku_code: str
    quantity: int | None  # None: WooCommerce does not manage this product's stock
    updated_at: datetime | None


def product_stock(payload: Any) -> ProductStock:
    if not isinstance(payload, dict) or "id" not in payload:
        raise HandlerError("WooCommerce product payload has no id", permanent=True)
    managed = payload.get("manage_stock") is True and payload.get("stock_quantity") is not None
    return ProductStock(
        product_id=text(payload["id"]),
        sku_code=text(payload.get("sku")),
        quantity=int(payload["stock_quantity"]) if managed else None,
        updated_at=timestamp(payload.get("date_modified_gmt") or payload.get("date_modified")),
    )
