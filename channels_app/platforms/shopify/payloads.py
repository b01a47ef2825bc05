"""Shopify webhook payloads (REST resource shapes) into the hub's typed objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels_app.handlers import HandlerError
from channels_app.platforms.parsing import decimal, text, timestamp
from messaging.checkouts import CheckoutData
from orders.services import LineData, OrderData

_FINANCIAL = {
    "pending": "pending",
    "authorized": "authorized",
    "partially_paid": "partially_paid",
    "paid": "paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "voided": "voided",
    "expired": "voided",
}
_FULFILLMENT = {None: "unfulfilled", "": "unfulfilled", "partial": "partial", "fulfilled": "fulfilled"}


def order(payload: Any) -> OrderData:
    if not isinstance(payload, dict) or "id" not in payload:
        raise HandlerError("Shopify order payload has no id", permanent=True)
    customer = payload.get("customer") or {}
    name = " ".join(filter(None, [customer.get("first_name"), customer.get("last_name")]))
    return OrderData(
        external_id=text(payload["id"]),
        number=text(payload.get("name") or payload.get("order_number")),
        customer_name=name,
        email=text(payload.get("email") or payload.get("contact_email")),
        phone=text(payload.get("phone") or customer.get("phone")),
        shipping_address=payload.get("shipping_address") or {},
        billing_address=payload.get("billing_address") or {},
        currency=text(payload.get("currency")),
        # current_* reflect edits, refunds and removed lines; the plain fields are as first placed.
        subtotal=decimal(payload.get("current_subtotal_price", payload.get("subtotal_price"))),
        total_tax=decimal(payload.get("current_total_tax", payload.get("total_tax"))),
        total_discounts=decimal(payload.get("current_total_discounts", payload.get("total_discounts"))),
        total=decimal(payload.get("current_total_price", payload.get("total_price"))),
        financial_status=_FINANCIAL.get(payload.get("financial_status") or "pending", "pending"),
        fulfillment_status=_FULFILLMENT.get(payload.get("fulfillment_status"), "unfulfilled"),
        platform_status=text(payload.get("financial_status")),
        cancelled_at=timestamp(payload.get("cancelled_at")),
        cancel_reason=text(payload.get("cancel_reason")),
        location_id=text(payload.get("location_id")),
        created_at=timestamp(payload.get("created_at")),
        updated_at=timestamp(payload.get("updated_at")),
        lines=tuple(_line(item) for item in payload.get("line_items") or []),
    )


def _line(item: dict[str, Any]) -> LineData:
    quantity = item.get("current_quantity", item.get("quantity")) or 0
    return LineData(
        external_line_id=text(item.get("id")),
        quantity=int(quantity),
        unit_price=decimal(item.get("price")),
        title=text(item.get("name") or item.get("title")),
        sku_code=text(item.get("sku")),
        external_variant_id=text(item.get("variant_id")),
        fulfilled=item.get("fulfillment_status") == "fulfilled",
    )


@dataclass(frozen=True)
class InventoryLevel:
    inventory_item_id: str
    location_id: str
    available: int | None  # None: Shopify does not track this item's inventory
    updated_at: datetime | None


def inventory_level(payload: Any) -> InventoryLevel:
    try:
        return InventoryLevel(
            inventory_item_id=text(payload["inventory_item_id"]),
            location_id=text(payload["location_id"]),
            available=None if payload["available"] is None else int(payload["available"]),
            updated_at=timestamp(payload.get("updated_at")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise HandlerError(f"Shopify inventory level payload is incomplete: {exc!r}", permanent=True) from exc


def checkout(payload: Any) -> CheckoutData:
    """checkouts/create and checkouts/update: the REST checkout resource."""
    if not isinstance(payload, dict) or "id" not in payload:
        raise HandlerError("Shopify checkout payload has no id", permanent=True)
    customer = payload.get("customer") or {}
    shipping = payload.get("shipping_address") or {}
    billing = payload.get("billing_address") or {}
    name = " ".join(filter(None, [customer.get("first_name"), customer.get("last_name")])) or text(
        shipping.get("name") or billing.get("name")
    )
    candidates = [
        payload.get("sms_marketing_phone"),
        payload.get("phone"),
        shipping.get("phone"),
        billing.get("phone"),
        customer.get("phone"),
    ]
    items = 0
    for line in payload.get("line_items") or []:
        try:
            items += int(line.get("quantity") or 0)
        except (TypeError, ValueError):
            continue
    return CheckoutData(
        external_id=text(payload["id"]),
        token=text(payload.get("token")),
        updated_at=timestamp(payload.get("updated_at") or payload.get("created_at")),
        completed_at=timestamp(payload.get("completed_at")),
        phones=tuple(dict.fromkeys(text(phone) for phone in candidates if phone)),
        sms_phone=text(payload.get("sms_marketing_phone")),
        country=text(shipping.get("country_code") or billing.get("country_code")),
        customer_name=name,
        accepts_sms=bool(payload.get("buyer_accepts_sms_marketing")),
        total=decimal(payload.get("total_price")),
        currency=text(payload.get("presentment_currency") or payload.get("currency")),
        items=items,
        recovery_url=text(payload.get("abandoned_checkout_url")),
    )
