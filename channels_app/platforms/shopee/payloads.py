"""Shopee push messages and API objects into the hub's typed objects, each checked against its
shape first (channels_app.platforms.shapes), as Shopee's open-platform documents describe them."""

from __future__ import annotations

from collections import Counter
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
    line_item_id: Id | None = None  # in the order detail since 2026-07
    model_quantity_purchased: Quantity
    model_original_price: MoneyNumber | None = None
    model_discounted_price: MoneyNumber | None = None
    promotion_type: Text100 | None = None
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
    lines = _lines(shape.item_list, fulfilled=fulfillment == "fulfilled")
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


def _lines(items: list[_Item], *, fulfilled: bool) -> tuple[LineData, ...]:
    lines = []
    seen: Counter[str] = Counter()
    for item in items:
        line_id, *former = _line_ids(item)
        seen[line_id] += 1
        if seen[line_id] > 1:
            # The same item and model twice under one id: kept apart by their order in the list,
            # rather than failing the whole order on the unique line id.
            line_id, former = f"{line_id}#{seen[line_id]}", []
        lines.append(
            LineData(
                external_line_id=line_id,
                former_line_ids=tuple(former),
                quantity=item.model_quantity_purchased,
                unit_price=_unit_price(item),
                title=" ".join(filter(None, [item.item_name, item.model_name]))[:255],
                sku_code=item.model_sku or item.item_sku or "",
                external_variant_id=text(item.model_id or item.item_id),
                fulfilled=fulfilled,
            )
        )
    return tuple(lines)


def _line_ids(item: _Item) -> list[str]:
    """The line's id, then the ids it may be stored under from earlier payloads.

    A line is an item (product) and model (variant): one item can appear with two models. The
    items of one bundle deal share `order_item_id` (for other items it is the item id), so inside a
    bundle the item id tells them apart; `line_item_id`, when Shopee sends it, is the line's own.
    Before bundles were told apart every line was `order_item_id:model_id`, as a line outside any
    bundle still is when Shopee sends no line_item_id.
    """
    model = item.model_id or 0
    shared = item.order_item_id or item.item_id
    before_bundles = f"{shared}:{model}"
    without_line_id = before_bundles if shared == item.item_id else f"{shared}:{item.item_id}:{model}"
    line_id = f"{item.line_item_id}:{model}" if item.line_item_id else without_line_id
    return list(dict.fromkeys([line_id, without_line_id, before_bundles]))


def _unit_price(item: _Item) -> Decimal:
    """What one unit sold for, as far as the order detail tells.

    A bundle deal's items come with `model_discounted_price` 0 by design: the bundle's discount is
    not broken down per item there (only v2.payment.get_escrow_detail does, a call the hub does not
    make). Their original price stands in, the most a unit can have cost, rather than a 0 that
    says the goods were free. Outside a bundle deal a 0 is taken as Shopee sent it.
    """
    price = item.model_discounted_price
    if price is None or (price == 0 and item.promotion_type == "bundle_deal"):
        return item.model_original_price or Decimal(0)
    return price


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
