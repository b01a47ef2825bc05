"""Shopify webhooks: HMAC-SHA256 (base64) over the raw body with the app's client secret.

Event identity is (shop, topic, X-Shopify-Event-Id): the Event-Id is shared by every delivery of
one merchant action across topics (orders/create and orders/paid carry the same one), so the topic
is part of the key. Retries resend the payload as it was when triggered, up to 8 times in 4 hours.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from channels_app.intake import Delivery, body_digest, hmac_sha256_base64_matches
from channels_app.outcomes import Handler
from channels_app.platforms.parsing import timestamp

_ORDER = Handler(apply="channels_app.platforms.shopify.handlers.order_apply")
_CHECKOUT = Handler(apply="channels_app.platforms.shopify.handlers.checkout_apply")
# The topics the hub subscribes to, and what handles each; each has a recorded payload in
# tests/fixtures/shopify/webhooks/.
HANDLERS = {
    "app/uninstalled": Handler(apply="channels_app.services.channel_uninstalled"),
    "orders/create": _ORDER,
    "orders/updated": _ORDER,
    "orders/paid": _ORDER,
    "orders/cancelled": _ORDER,
    "fulfillments/create": Handler(apply="channels_app.platforms.shopify.handlers.fulfillment_apply"),
    "checkouts/create": _CHECKOUT,
    "checkouts/update": _CHECKOUT,
    "inventory_levels/update": Handler(apply="channels_app.platforms.shopify.handlers.inventory_level_apply"),
}


def header(request: HttpRequest, name: str) -> str:
    """Shopify sends X-Shopify-<name>; newer deliveries may use the un-prefixed Shopify-<name>."""
    return request.headers.get(f"X-Shopify-{name}") or request.headers.get(f"Shopify-{name}") or ""


def shop_domain(request: HttpRequest) -> str:
    return header(request, "Shop-Domain").strip().lower()


@sensitive_variables("secrets")
def signature_valid(request: HttpRequest, body: bytes, secrets: list[str]) -> bool:
    signature = header(request, "Hmac-Sha256")
    return any(hmac_sha256_base64_matches(secret, body, signature) for secret in secrets)


def delivery(request: HttpRequest, body: bytes, path_topic: str) -> Delivery:
    topic = (header(request, "Topic") or path_topic).strip().lower()
    event_id = header(request, "Event-Id")
    webhook_id = header(request, "Webhook-Id")
    # Older API versions send no Event-Id; the Webhook-Id is then the best identity there is.
    identity = (
        f"event:{event_id}" if event_id else f"webhook:{webhook_id}" if webhook_id else body_digest(body)
    )
    return Delivery(
        topic=topic,
        event_key=f"{topic}:{identity}",
        delivery_id=webhook_id,
        triggered_at=timestamp(header(request, "Triggered-At")),
        api_version=header(request, "API-Version").strip(),
        headers={
            name: header(request, name)
            for name in (
                "Topic",
                "Shop-Domain",
                "API-Version",
                "Webhook-Id",
                "Triggered-At",
                "Event-Id",
                "Name",
            )
            if header(request, name)
        },
    )
