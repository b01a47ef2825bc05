"""Shopee push messages and API objects into the hub's typed objects, each checked against its
shape first (channels_app.platforms.shapes), as Shopee's open-platform documents describe them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, Strict

from channels_app.platforms.parsing import text
from channels_app.platforms.shapes import (
    Currency,
    Id,
    MoneyNumber,
    Quantity,
    Shape,
    Text50,
    Text100,
    Text255,
    When,
    validated,
)
from orders.services import LineData, OrderData

# order_status -> (payment, fulfilment). COD orders are READY_TO_SHIP before any payment: they
# are shipped, so their stock is held (authorized).
_STATUSES = {
    "UNPAID": ("pending", "unfulfilled"),
    "READY_TO_SHIP": ("authorized", "unfulfilled"),
    "PROCESSED": ("authorized", "unfulfilled"),
    "RETRY_SHIP": ("authorized", "unfulfilled"),
    "IN_CANCEL": ("authorized", "unfulfilled"),
    "SHIPPED": ("authorized", "fulfilled"),
    "TO_CONFIRM_RECEIVE": ("authorized", "fulfilled"),
    "TO_RETURN": ("paid", "fulfilled"),
    "COMPLETED": ("paid", "fulfilled"),
    "CANCELLED": ("pending", "unfulfilled"),
}


class _PushData(Shape):
    ordersn: Text100 | None = None
    order_sn: Text100 | None = None
    item_id: Id | None = None


class _Push(Shape):
    shop_id: Id | None = None
    code: Annotated[int, Strict(), Field(ge=0)]
    timestamp: When | None = None
    data: _PushData | None = None


def push(payload: Any) -> _Push:
    return validated(_Push, payload, "Shopee push")


def order_sn(payload: Any) -> str:
    """The order a push is about ("" if it names none)."""
    data = push(payload).data or _PushData()
    return data.ordersn or data.order_sn or ""


def item_id(payload: Any) -> str:
    """The item a stock push is about ("" if it names none)."""
    data = push(payload).data or _PushData()
    return text(data.item_id)


def pushed_at(payload: Any) -> datetime | None:
    return push(payload).timestamp


class _Item(Shape):
    item_id: Id
    model_id: Id | None = None
    order_item_id: Id | None = None
    model_quantity_purchased: Quantity
    model_discounted_price: MoneyNumber | None = None
    item_name: Text255 | None = None
    model_name: Text255 | None = None
    model_sku: Text100 | None = None
    item_sku: Text100 | None = None


class _Address(Shape):
    name: Text255 | None = None
    phone: Text50 | None = None


class _OrderDetail(Shape):
    order_sn: Text100
    order_status: Text50 | None = None
    pay_time: When | None = None
    recipient_address: _Address | None = None
    buyer_username: Text255 | None = None
    currency: Currency | None = None
    total_amount: MoneyNumber | None = None
    cancel_reason: Text100 | None = None
    create_time: When | None = None
    update_time: When | None = None
    item_list: list[_Item] = []


def order(detail: Any) -> OrderData:
    """v2.order.get_order_detail's order, as the API answered it."""
    shape = validated(_OrderDetail, detail, "Shopee order")
    status = shape.order_status or ""
    financial, fulfillment = _STATUSES.get(status, ("pending", "unfulfilled"))
    if financial == "authorized" and shape.pay_time:
        financial = "paid"
    address = shape.recipient_address or _Address()
    lines = tuple(_line(item, fulfilled=fulfillment == "fulfilled") for item in shape.item_list)
    subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    return OrderData(
        external_id=shape.order_sn,
        number=shape.order_sn,
        customer_name=address.name or shape.buyer_username or "",
        phone=address.phone or "",
        shipping_address=detail.get("recipient_address") or {},  # all of it, as Shopee sent it
        currency=shape.currency or "",
        subtotal=subtotal,
        total=shape.total_amount or Decimal(0),
        financial_status=financial,
        fulfillment_status=fulfillment,
        platform_status=status,
        cancelled_at=shape.update_time if status == "CANCELLED" else None,
        cancel_reason=(shape.cancel_reason or "") if status == "CANCELLED" else "",
        created_at=shape.create_time,
        updated_at=shape.update_time,
        lines=lines,
    )


def _line(item: _Item, *, fulfilled: bool) -> LineData:
    model_id = item.model_id or 0
    # A line is an item (product) and model (variant); the same item can appear with two models.
    return LineData(
        external_line_id=f"{item.order_item_id or item.item_id}:{model_id}",
        quantity=item.model_quantity_purchased,
        unit_price=item.model_discounted_price or Decimal(0),
        title=" ".join(filter(None, [item.item_name, item.model_name]))[:255],
        sku_code=item.model_sku or item.item_sku or "",
        external_variant_id=text(model_id or item.item_id),
        fulfilled=fulfilled,
    )


@dataclass(frozen=True)
class ModelStock:
    variant_id: str  # the model id, or the item id for an item without variants (as order lines)
    sku_code: str
    location_id: str
    available: int


class _SellerStock(Shape):
    location_id: Text100 | None = None
    stock: Quantity


class _StockInfo(Shape):
    seller_stock: list[_SellerStock] = []


class _Model(Shape):
    model_id: Id | None = None
    model_sku: Text100 | None = None
    item_sku: Text100 | None = None
    stock_info_v2: _StockInfo | None = None


def model_stocks(item: str, models: list[Any]) -> list[ModelStock]:
    """The seller's own stock per model and location (Shopee's warehouse stock is not the shop's)."""
    stocks = []
    for index, raw in enumerate(models):
        model = validated(_Model, raw, f"Shopee model [{index}]")
        for entry in (model.stock_info_v2 or _StockInfo()).seller_stock:
            location = entry.location_id or ""
            stocks.append(
                ModelStock(
                    variant_id=text(model.model_id or item),
                    sku_code=model.model_sku or model.item_sku or "",
                    location_id="" if location in ("", "-") else location,
                    available=entry.stock,
                )
            )
    return stocks
