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
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables

from channels_app.intake import Delivery, body_digest
from channels_app.models import Channel, Platform
from channels_app.outcomes import Handler
from channels_app.platforms import parsing

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
# The pushes the hub handles: each only says something changed; its handler reads what.
HANDLERS = {
    "order_status": Handler(
        fetch="channels_app.platforms.shopee.handlers.order_fetch",
        apply="channels_app.platforms.shopee.handlers.order_apply",
    ),
    "reserved_stock_change": Handler(
        fetch="channels_app.platforms.shopee.handlers.stock_fetch",
        apply="channels_app.platforms.shopee.handlers.stock_apply",
    ),
}


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


# A shop id as the body states it, found without parsing the body (it is not verified yet).
_SHOP_ID = re.compile(rb'"shop_id"\s*:\s*"?(\d{1,20})')
_NAMED_SHOPS_CHECKED = 3


def signing_channel(request: HttpRequest, body: bytes) -> Channel | None:
    """The Shopee channel whose partner key signs `body`, found before the body is parsed.

    First the channels of the shops the body seems to name (a scan of the raw bytes, which only
    chooses whose key to try), then one channel per partner: an app's channels share its partner
    key, so an unsigned request costs one check per partner, however many shops there are."""
    named = list(dict.fromkeys(m.decode() for m in _SHOP_ID.findall(body)))[:_NAMED_SHOPS_CHECKED]
    shopee_channels = Channel.objects.filter(platform=Platform.SHOPEE).order_by("pk")
    candidates = list(shopee_channels.filter(shop_identifier__in=named))
    first_per_partner: dict[str, int] = {}
    for pk, partner_id in shopee_channels.values_list("pk", "partner_id"):
        first_per_partner.setdefault(partner_id, pk)
    for partner_id in {c.partner_id for c in candidates}:
        first_per_partner.pop(partner_id, None)
    candidates += shopee_channels.filter(pk__in=first_per_partner.values())
    return next((c for c in candidates if signature_valid(request, body, c.webhook_secrets())), None)


def channel_for(signer: Channel, request: HttpRequest, body: bytes, payload: Any) -> Channel | None:
    """The channel a verified push is for: the shop it names, if that shop's key signs it too;
    the signer's channel when it names none (a body kept as FAILED is kept there)."""
    named = shop_id(payload)
    if not named or named == signer.shop_identifier:
        return signer
    channel = Channel.objects.filter(platform=Platform.SHOPEE, shop_identifier=named).first()
    if channel is None or not signature_valid(request, body, channel.webhook_secrets()):
        return None
    return channel


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
        triggered_at=parsing.timestamp(timestamp) if isinstance(timestamp, int) else None,
        headers={},
    )
