"""Shopee push messages and API objects into the hub's typed objects."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from channels_app.platforms.parsing import decimal, text, timestamp
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


def order_sn(push: Any) -> str:
    """The order a push is about ("" if it names none)."""
    data = push.get("data") if isinstance(push, dict) else None
    if not isinstance(data, dict):
        return ""
    return text(data.get("ordersn") or data.get("order_sn"))


def order(detail: dict[str, Any]) -> OrderData:
    status = text(detail.get("order_status"))
    financial, fulfillment = _STATUSES.get(status, ("pending", "unfulfilled"))
    if financial == "authorized" and detail.get("pay_time"):
        financial = "paid"
    address = detail.get("recipient_address") or {}
    updated = timestamp(detail.get("update_time"))
    lines = tuple(_line(item, fulfilled=fulfillment == "fulfilled") for item in detail.get("item_list") or [])
    subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    return OrderData(
        external_id=text(detail.get("order_sn")),
        number=text(detail.get("order_sn")),
        customer_name=text(address.get("name") or detail.get("buyer_username")),
        phone=text(address.get("phone")),
        shipping_address=address,
        currency=text(detail.get("currency")),
        subtotal=subtotal,
        total=decimal(detail.get("total_amount")),
        financial_status=financial,
        fulfillment_status=fulfillment,
        platform_status=status,
        cancelled_at=updated if status == "CANCELLED" else None,
        cancel_reason=text(detail.get("cancel_reason")) if status == "CANCELLED" else "",
        created_at=timestamp(detail.get("create_time")),
        updated_at=updated,
        lines=lines,
    )


def _line(item: dict[str, Any], *, fulfilled: bool) -> LineData:
    model_id = item.get("model_id") or 0
    # A line is an item (product) and model (variant); the same item can appear with two models.
    return LineData(
        external_line_id=f"{item.get('order_item_id') or item.get('item_id')}:{model_id}",
        quantity=int(item.get("model_quantity_purchased") or 0),
        unit_price=decimal(item.get("model_discounted_price")),
        title=" ".join(filter(None, [text(item.get("item_name")), text(item.get("model_name"))])),
        sku_code=text(item.get("model_sku") or item.get("item_sku")),
        external_variant_id=text(model_id or item.get("item_id")),
        fulfilled=fulfilled,
    )


def item_id(push: Any) -> str:
    """The item a stock push is about ("" if it names none)."""
    data = push.get("data") if isinstance(push, dict) else None
    return text(data.get("item_id")) if isinstance(data, dict) else ""


@dataclass(frozen=True)
class ModelStock:
    variant_id: str  # the model id, or the item id for an item without variants (as order lines)
    sku_code: str
    location_id: str
    available: int


def model_stocks(item: str, models: list[dict[str, Any]]) -> list[ModelStock]:
    """The seller's own stock per model and location (Shopee's warehouse stock is not the shop's)."""
    stocks = []
    for model in models:
        info = model.get("stock_info_v2") or {}
        for entry in info.get("seller_stock") or []:
            try:
                available = int(entry.get("stock"))
            except (TypeError, ValueError):
                continue
            location = text(entry.get("location_id"))
            stocks.append(
                ModelStock(
                    variant_id=text(model.get("model_id") or item),
                    sku_code=text(model.get("model_sku") or model.get("item_sku")),
                    location_id="" if location in ("", "-") else location,
                    available=available,
                )
            )
    return stocks
