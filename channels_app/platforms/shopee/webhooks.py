"""Shopee push: Authorization = hex HMAC-SHA256(partner key, callback_url + "|" + raw body).

callback_url is the URL registered with Shopee, built from WEBHOOK_BASE_URL, never from the
request's Host header (a proxy would change it, and an attacker controls it). A push carries no
event id: identity is a digest of (shop id, code, timestamp, data). A push only says "something
changed"; handlers fetch current state from the API. Success is a 2xx with an empty body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables

from channels_app.intake import Delivery, body_digest

# Push codes (v2.push.set_app_push_config) and the topic names the hub uses for them.
PUSH_CODES = {
    1: "shop_authorization",
    2: "shop_deauthorization",
    3: "order_status",
    4: "tracking_no",
    5: "shopee_updates",
    6: "banned_item",
    7: "item_promotion",
    8: "reserved_stock_change",
    9: "promotion_update",
    10: "webchat",
    11: "video_upload",
    12: "openapi_authorization_expiry",
    13: "brand_register_result",
}
TOPICS = ("order_status", "reserved_stock_change")


def callback_url() -> str:
    return settings.WEBHOOK_BASE_URL + reverse("webhooks:shopee")


@sensitive_variables("partner_key")
def sign(partner_key: str, body: bytes) -> str:
    message = callback_url().encode() + b"|" + body
    return hmac.new(partner_key.encode(), message, hashlib.sha256).hexdigest()


@sensitive_variables("secrets")
def signature_valid(request: HttpRequest, body: bytes, secrets: list[str]) -> bool:
    signature = request.headers.get("Authorization", "").strip().lower().encode("utf-8", "surrogateescape")
    return bool(signature) and any(hmac.compare_digest(sign(s, body).encode(), signature) for s in secrets)


def shop_id(payload: Any) -> str:
    if isinstance(payload, dict) and payload.get("shop_id") is not None:
        return str(payload["shop_id"])
    return ""


def topic_for(payload: Any) -> str:
    code = payload.get("code") if isinstance(payload, dict) else None
    return PUSH_CODES.get(code, f"code_{code}") if isinstance(code, int) else "unknown"


def delivery(body: bytes, payload: Any) -> Delivery:
    if isinstance(payload, dict):
        identity = {k: payload.get(k) for k in ("shop_id", "code", "timestamp", "data")}
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        timestamp = payload.get("timestamp")
    else:
        digest, timestamp = body_digest(body), None
    topic = topic_for(payload)
    return Delivery(
        topic=topic,
        event_key=f"{topic}:{digest}",
        delivery_id="",
        triggered_at=datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int) else None,
        headers={},
    )
