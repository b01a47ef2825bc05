"""A Shopify webhook of a handled topic, as Shopify sends it now (channels_app.platforms.simulation)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.urls import reverse

from channels_app.intake import hmac_sha256_base64
from channels_app.models import Channel
from channels_app.platforms import simulation
from channels_app.platforms.shopify.webhooks import HANDLERS

TOPICS = sorted(HANDLERS)


def delivery(channel: Channel, topic: str) -> simulation.SimulatedDelivery:
    payload = simulation.sample(__package__, "shopify", topic, TOPICS)
    sent_at = simulation.now()
    # Shopify sends a resource as it is when the webhook fires: updated now, so an order sent
    # again is a newer version rather than a stale one.
    if "updated_at" in payload:
        payload["updated_at"] = sent_at.isoformat()
    body = simulation.json_bytes(payload)
    return simulation.SimulatedDelivery(
        path=reverse("webhooks:shopify"),
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": hmac_sha256_base64(channel.webhook_secret, body),
            "X-Shopify-Shop-Domain": channel.shop_identifier,
            "X-Shopify-API-Version": settings.SHOPIFY_API_VERSION,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            # Each send is a new merchant action, so a new event rather than a duplicate.
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": sent_at.isoformat().replace("+00:00", "Z"),
        },
    )
