"""Shopee Open Platform v2: signed shop API calls.

sign = hex HMAC-SHA256(partner key, partner_id + api path + timestamp + access_token + shop_id),
sent with those values as query parameters. Shopee answers 200 with `error` set for most failures;
`error_server`/`error_network`/5xx/429 are worth retrying, the rest are not.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import requests

from channels_app.handlers import HandlerError
from channels_app.models import Channel

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://partner.shopeemobile.com"
TIMEOUT = (5, 20)  # connect, read (seconds)
_TRANSIENT_ERRORS = {"error_server", "error_network", "error_busy", "error_inner"}
_ORDER_FIELDS = (
    "buyer_user_id,buyer_username,recipient_address,item_list,pay_time,total_amount,package_list,"
    "cancel_by,cancel_reason,shipping_carrier"
)


def sign(partner_key: str, *parts: object) -> str:
    return hmac.new(partner_key.encode(), "".join(str(p) for p in parts).encode(), hashlib.sha256).hexdigest()


def shop_get(channel: Channel, path: str, params: dict[str, Any]) -> dict[str, Any]:
    """GET a shop-level API path; the `response` object of Shopee's answer."""
    access_token = channel.credentials.get("access_token", "")
    if not access_token:
        raise HandlerError(f"Shopee channel {channel.pk} has no access token", permanent=True)
    timestamp = int(time.time())
    query = {
        **params,
        "partner_id": channel.partner_id,
        "timestamp": timestamp,
        "access_token": access_token,
        "shop_id": channel.shop_identifier,
        "sign": sign(
            channel.webhook_secret, channel.partner_id, path, timestamp, access_token, channel.shop_identifier
        ),
    }
    url = (channel.api_base_url or DEFAULT_BASE_URL).rstrip("/") + path
    started = time.monotonic()
    response = requests.get(url, params=query, timeout=TIMEOUT)
    logger.info(
        "shopee GET %s -> %s in %.0f ms",
        path,
        response.status_code,
        (time.monotonic() - started) * 1000,
        extra={"channel_id": channel.pk},
    )
    if response.status_code == 429 or response.status_code >= 500:
        raise ConnectionError(f"Shopee {path} answered {response.status_code}")  # retried with backoff
    try:
        body = response.json()
    except ValueError as exc:
        raise HandlerError(
            f"Shopee {path} answered {response.status_code} without JSON", permanent=False
        ) from exc
    error = body.get("error") or ""
    if error:
        message = f"Shopee {path}: {error}: {body.get('message', '')}"
        if error in _TRANSIENT_ERRORS:
            raise ConnectionError(message)
        raise HandlerError(message, permanent=True)
    return body.get("response") or {}


def fetch_order_detail(channel: Channel, order_sn: str) -> dict[str, Any]:
    response = shop_get(
        channel,
        "/api/v2/order/get_order_detail",
        {"order_sn_list": order_sn, "response_optional_fields": _ORDER_FIELDS},
    )
    for detail in response.get("order_list") or []:
        if detail.get("order_sn") == order_sn:
            return detail
    raise HandlerError(f"Shopee has no order {order_sn} for shop {channel.shop_identifier}", permanent=True)


def fetch_models(channel: Channel, item_id: str) -> list[dict[str, Any]]:
    """An item's models (variants) with their stock; an item without variants is its own model."""
    models = shop_get(channel, "/api/v2/product/get_model_list", {"item_id": item_id}).get("model") or []
    if models:
        return list(models)
    items = shop_get(channel, "/api/v2/product/get_item_base_info", {"item_id_list": item_id}).get(
        "item_list"
    )
    return [item | {"model_id": 0} for item in items or []]
