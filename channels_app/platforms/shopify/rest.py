"""Shopify's GraphQL answers in the REST shapes its webhooks carry, so that a polled order or stock
level is recorded as the webhook event that would have carried it and runs the same handler."""

from __future__ import annotations

import re
from typing import Any

from channels_app.clients import Polled


def gid_id(gid: str | None) -> str:
    """The numeric id in a GraphQL global id (gid://shopify/ProductVariant/30322695 gives
    30322695), which is the id webhooks and the REST shapes use."""
    return (gid or "").rsplit("/", 1)[-1].split("?", 1)[0]


# GraphQL's words for what the webhooks' REST shape says (DisplayFinancialStatus and
# DisplayFulfillmentStatus enums -> the REST order's financial_status and fulfillment_status).
_FULFILLMENT = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _amount(money: dict[str, Any] | None) -> str | None:
    return ((money or {}).get("shopMoney") or {}).get("amount")


def _address(address: dict[str, Any] | None) -> dict[str, Any]:
    if not address:
        return {}
    rest = {_snake(key): value for key, value in address.items()}
    rest["country_code"] = rest.pop("country_code_v2", None)
    return rest


def rest_order(node: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL Order as the REST order a webhook carries, for the webhooks' own handler."""
    customer = node.get("customer") or {}
    return {
        "id": int(node["legacyResourceId"]),
        "name": node.get("name"),
        "email": node.get("email"),
        "phone": node.get("phone"),
        "currency": node.get("currencyCode"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "cancel_reason": (node.get("cancelReason") or "").lower() or None,
        "financial_status": (node.get("displayFinancialStatus") or "").lower() or None,
        "fulfillment_status": _FULFILLMENT.get(node.get("displayFulfillmentStatus") or ""),
        "customer": {
            "first_name": customer.get("firstName"),
            "last_name": customer.get("lastName"),
            "phone": (customer.get("defaultPhoneNumber") or {}).get("phoneNumber"),
        },
        "checkout_token": node.get("checkoutToken"),
        "shipping_address": _address(node.get("shippingAddress")),
        "billing_address": _address(node.get("billingAddress")),
        "current_subtotal_price": _amount(node.get("currentSubtotalPriceSet")),
        "current_total_tax": _amount(node.get("currentTotalTaxSet")),
        "current_total_discounts": _amount(node.get("currentTotalDiscountsSet")),
        "current_total_price": _amount(node.get("currentTotalPriceSet")),
        "line_items": [
            {
                "id": int(gid_id(line.get("id")) or 0),
                "name": line.get("name"),
                "sku": line.get("sku"),
                "quantity": line.get("quantity"),
                "current_quantity": line.get("currentQuantity"),
                "variant_id": int((line.get("variant") or {}).get("legacyResourceId") or 0) or None,
                "price": _amount(line.get("originalUnitPriceSet")),
                "fulfillment_status": "fulfilled"
                if line.get("unfulfilledQuantity") == 0 and line.get("quantity")
                else None,
            }
            for line in (node.get("lineItems") or {}).get("nodes") or []
        ],
    }


def rest_level(node: dict[str, Any], location_id: str) -> dict[str, Any]:
    """An InventoryLevel at a location as the inventory_levels/update webhook's payload."""
    item = node.get("item") or {}
    quantities = {q.get("name"): q.get("quantity") for q in node.get("quantities") or []}
    return {
        "inventory_item_id": int(item["legacyResourceId"]),
        "location_id": int(location_id),
        "available": quantities.get("available") if item.get("tracked", True) else None,
        "updated_at": node.get("updatedAt"),
    }


def level_polled(payload: dict[str, Any]) -> Polled:
    """A polled level as an event whose identity is the level's state: read again unchanged, it is
    the same event (a duplicate); a new figure is a new one even if `updatedAt` did not move."""
    key = ":".join(
        str(payload[name]) for name in ("inventory_item_id", "location_id", "updated_at", "available")
    )
    return Polled(topic="inventory_levels/update", key=f"poll:level:{key}", payload=payload)
