"""Shopify webhook payloads (REST resource shapes) into the hub's typed objects, each checked
against its shape first (channels_app.platforms.shapes): shapes as in Shopify's webhook examples
(tests/fixtures/shopify/webhooks, sources in tests/fixtures/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Strict, StringConstraints

from channels_app.platforms.parsing import text
from channels_app.platforms.shapes import (
    Currency,
    Id,
    Money,
    Object,
    Quantity,
    Shape,
    StockLevel,
    Text2,
    Text50,
    Text100,
    Text200,
    Text255,
    Text1000,
    When,
    unique_ids,
    validated,
)
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
Token = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=100)]
_FULFILLMENT = {None: "unfulfilled", "": "unfulfilled", "partial": "partial", "fulfilled": "fulfilled"}


class _Customer(Shape):
    first_name: Text100 | None = None
    last_name: Text100 | None = None
    phone: Text50 | None = None


class _Line(Shape):
    id: Id
    quantity: Quantity
    current_quantity: Quantity | None = None
    price: Money
    name: Text255 | None = None
    title: Text255 | None = None
    sku: Text100 | None = None
    variant_id: Id | None = None
    fulfillment_status: Text50 | None = None


class _Order(Shape):
    id: Id
    name: Text100 | None = None
    order_number: Id | None = None
    email: Text255 | None = None
    contact_email: Text255 | None = None
    phone: Text50 | None = None
    customer: _Customer | None = None
    shipping_address: Object | None = None
    billing_address: Object | None = None
    currency: Currency | None = None
    subtotal_price: Money | None = None
    current_subtotal_price: Money | None = None
    total_tax: Money | None = None
    current_total_tax: Money | None = None
    total_discounts: Money | None = None
    current_total_discounts: Money | None = None
    total_price: Money | None = None
    current_total_price: Money | None = None
    financial_status: Text50 | None = None
    fulfillment_status: Text50 | None = None
    cancelled_at: When | None = None
    cancel_reason: Text100 | None = None
    location_id: Id | None = None
    created_at: When | None = None
    updated_at: When | None = None
    line_items: Annotated[list[_Line], unique_ids("line item")] = []
    checkout_token: Text100 | None = None
    checkout_id: Id | None = None  # not sent from API 2026-04: the token is what links the checkout


def _first(*amounts: Decimal | None) -> Decimal:
    return next((a for a in amounts if a is not None), Decimal(0))


def order(payload: Any) -> OrderData:
    shape = validated(_Order, payload, "Shopify order")
    customer = shape.customer or _Customer()
    return OrderData(
        external_id=str(shape.id),
        number=shape.name or text(shape.order_number),
        customer_name=" ".join(filter(None, [customer.first_name, customer.last_name])),
        email=shape.email or shape.contact_email or "",
        phone=shape.phone or customer.phone or "",
        shipping_address=shape.shipping_address or {},
        billing_address=shape.billing_address or {},
        currency=shape.currency or "",
        # current_* reflect edits, refunds and removed lines; the plain fields are as first placed.
        subtotal=_first(shape.current_subtotal_price, shape.subtotal_price),
        total_tax=_first(shape.current_total_tax, shape.total_tax),
        total_discounts=_first(shape.current_total_discounts, shape.total_discounts),
        total=_first(shape.current_total_price, shape.total_price),
        financial_status=_FINANCIAL.get(shape.financial_status or "pending", "pending"),
        fulfillment_status=_FULFILLMENT.get(shape.fulfillment_status, "unfulfilled"),
        platform_status=shape.financial_status or "",
        cancelled_at=shape.cancelled_at,
        cancel_reason=shape.cancel_reason or "",
        location_id=text(shape.location_id),
        created_at=shape.created_at,
        updated_at=shape.updated_at,
        lines=tuple(_line(item) for item in shape.line_items),
    )


def checkout_reference(payload: Any) -> tuple[str, str]:
    """The checkout an order was placed from: its token, and its id where the payload's API version
    still has one ("" when it names none)."""
    shape = validated(_Order, payload, "Shopify order")
    return shape.checkout_token or "", text(shape.checkout_id)


def _line(item: _Line) -> LineData:
    return LineData(
        external_line_id=str(item.id),
        quantity=item.current_quantity if item.current_quantity is not None else item.quantity,
        unit_price=item.price,
        title=item.name or item.title or "",
        sku_code=item.sku or "",
        external_variant_id=text(item.variant_id),
        fulfilled=item.fulfillment_status == "fulfilled",
    )


@dataclass(frozen=True)
class InventoryLevel:
    inventory_item_id: str
    location_id: str
    available: int | None  # None: Shopify does not track this item's inventory
    updated_at: datetime | None


class _InventoryLevel(Shape):
    inventory_item_id: Id
    location_id: Id
    available: StockLevel | None
    updated_at: When | None = None


def inventory_level(payload: Any) -> InventoryLevel:
    shape = validated(_InventoryLevel, payload, "Shopify inventory level")
    return InventoryLevel(
        inventory_item_id=str(shape.inventory_item_id),
        location_id=str(shape.location_id),
        available=shape.available,
        updated_at=shape.updated_at,
    )


@dataclass(frozen=True)
class Fulfillment:
    order_id: str
    fulfillment_id: str
    tracking_number: str
    carrier: str
    url: str


class _Fulfillment(Shape):
    id: Id
    order_id: Id
    tracking_number: Text100 | None = None
    tracking_company: Text100 | None = None
    tracking_url: Text200 | None = None


def fulfillment(payload: Any) -> Fulfillment:
    shape = validated(_Fulfillment, payload, "Shopify fulfillment")
    return Fulfillment(
        order_id=str(shape.order_id),
        fulfillment_id=str(shape.id),
        tracking_number=shape.tracking_number or "",
        carrier=shape.tracking_company or "",
        url=shape.tracking_url or "",
    )


class _Address(Shape):
    name: Text200 | None = None
    phone: Text50 | None = None
    country_code: Text2 | None = None


class _CheckoutLine(Shape):
    quantity: Quantity


class _Checkout(Shape):
    # API 2026-04 removed the id (shopify.dev changelog, "Removed Checkout ID from checkout and
    # order webhooks"); the token names a checkout in every version.
    token: Token
    id: Id | None = None
    created_at: When | None = None
    updated_at: When | None = None
    completed_at: When | None = None
    phone: Text50 | None = None
    sms_marketing_phone: Text50 | None = None
    buyer_accepts_sms_marketing: bool | None = None
    customer: _Customer | None = None
    shipping_address: _Address | None = None
    billing_address: _Address | None = None
    total_price: Money | None = None
    currency: Currency | None = None
    presentment_currency: Currency | None = None
    line_items: list[_CheckoutLine] = []
    abandoned_checkout_url: Text1000 | None = None


def checkout(payload: Any) -> CheckoutData:
    """checkouts/create and checkouts/update: the REST checkout resource."""
    shape = validated(_Checkout, payload, "Shopify checkout")
    customer = shape.customer or _Customer()
    shipping = shape.shipping_address or _Address()
    billing = shape.billing_address or _Address()
    name = " ".join(filter(None, [customer.first_name, customer.last_name])) or (
        shipping.name or billing.name or ""
    )
    candidates = [shape.sms_marketing_phone, shape.phone, shipping.phone, billing.phone, customer.phone]
    return CheckoutData(
        token=shape.token,
        external_id=text(shape.id),
        updated_at=shape.updated_at or shape.created_at,
        completed_at=shape.completed_at,
        phones=tuple(dict.fromkeys(phone for phone in candidates if phone)),
        sms_phone=shape.sms_marketing_phone or "",
        country=shipping.country_code or billing.country_code or "",
        customer_name=name,
        accepts_sms=bool(shape.buyer_accepts_sms_marketing),
        total=shape.total_price or Decimal(0),
        currency=shape.presentment_currency or shape.currency or "",
        items=sum(line.quantity for line in shape.line_items),
        recovery_url=shape.abandoned_checkout_url or "",
    )
