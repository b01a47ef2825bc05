"""WooCommerce webhooks: base64 HMAC-SHA256 of the raw body, keyed by the webhook secret after
WordPress' wp_specialchars_decode (HTML entities in the stored secret are decoded first).

WooCommerce builds the payload at send time and never retries, and its X-WC-Webhook-Delivery-ID
collides within one second, so identity is (webhook id, resource id, date_modified, body
digest) when the body has them, else a digest of the body. Creating a webhook sends an unsigned
form body `webhook_id=N` that must be answered 200 or WooCommerce refuses to save it.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from channels_app.intake import Delivery, body_digest, hmac_sha256_base64_matches
from channels_app.outcomes import Handler
from channels_app.platforms.parsing import timestamp

_ORDER = Handler(apply="channels_app.platforms.woocommerce.handlers.order_apply")
# The topics the hub subscribes to, and what handles each.
HANDLERS = {
    "order.created": _ORDER,
    "order.updated": _ORDER,
    "order.restored": _ORDER,  # Out of the trash, sent as the whole order: applied as an update.
    "order.deleted": Handler(apply="channels_app.platforms.woocommerce.handlers.order_deleted_apply"),
    "product.updated": Handler(apply="channels_app.platforms.woocommerce.handlers.product_stock_apply"),
}

_PING = re.compile(rb"webhook_id=\d+")
# wp_specialchars_decode(..., ENT_QUOTES): only these entities, not every HTML entity.
_WP_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&#039;": "'", "&#x27;": "'", "&#39;": "'"}


def is_ping(request: HttpRequest, body: bytes) -> bool:
    return "X-WC-Webhook-Signature" not in request.headers and bool(_PING.fullmatch(body.strip()))


def wp_specialchars_decode(secret: str) -> str:
    for entity, char in _WP_ENTITIES.items():
        secret = secret.replace(entity, char)
    return secret.replace("&amp;", "&")


@sensitive_variables("secrets")
def signature_valid(request: HttpRequest, body: bytes, secrets: list[str]) -> bool:
    signature = request.headers.get("X-WC-Webhook-Signature", "")
    return any(hmac_sha256_base64_matches(wp_specialchars_decode(s), body, signature) for s in secrets)


def delivery(request: HttpRequest, body: bytes, payload: Any) -> Delivery:
    topic = request.headers.get("X-WC-Webhook-Topic", "").strip().lower()
    webhook_id = request.headers.get("X-WC-Webhook-ID", "")
    resource = request.headers.get("X-WC-Webhook-Resource", "")
    modified = ""
    resource_id = ""
    if isinstance(payload, dict):
        resource_id = str(payload.get("id", ""))
        modified = str(payload.get("date_modified_gmt") or payload.get("date_modified") or "")
    # date_modified has one-second resolution and WooCommerce never retries: two different
    # updates within a second must both be kept, so the body's digest is part of the identity.
    if resource_id and modified:
        identity = f"{webhook_id}:{resource}:{resource_id}:{modified}:{body_digest(body)[7:23]}"
    else:
        identity = f"{webhook_id}:{body_digest(body)}"
    return Delivery(
        topic=topic,
        event_key=f"{topic}:{identity}",
        delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID", ""),
        triggered_at=timestamp(modified),
        headers={
            name: request.headers[name]
            for name in (
                "X-WC-Webhook-Source",
                "X-WC-Webhook-Topic",
                "X-WC-Webhook-Resource",
                "X-WC-Webhook-Event",
                "X-WC-Webhook-ID",
                "X-WC-Webhook-Delivery-ID",
            )
            if name in request.headers
        },
    )
