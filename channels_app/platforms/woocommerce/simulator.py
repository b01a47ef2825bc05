"""A WooCommerce webhook of a handled topic, as WooCommerce sends it now
(channels_app.platforms.simulation)."""

from __future__ import annotations

import uuid

from django.urls import reverse

from channels_app.intake import hmac_sha256_base64
from channels_app.models import Channel
from channels_app.platforms import simulation
from channels_app.platforms.woocommerce.webhooks import HANDLERS, wp_specialchars_decode

TOPICS = sorted(HANDLERS)
WEBHOOK_ID = "1"  # WooCommerce numbers the webhooks of a store; the hub keys on it, nothing more


def delivery(channel: Channel, topic: str) -> simulation.SimulatedDelivery:
    payload = simulation.sample(__package__, "woocommerce", topic, TOPICS)
    # WooCommerce builds the payload when it sends: the resource as modified now (its identity
    # includes that date, so each run is a new event rather than a duplicate).
    modified = simulation.now()
    if "date_modified_gmt" in payload:
        payload["date_modified_gmt"] = modified.strftime("%Y-%m-%dT%H:%M:%S")
        payload["date_modified"] = payload["date_modified_gmt"]
    body = simulation.json_bytes(payload)
    # WooCommerce signs with the secret as WordPress decodes it (entities), as the hub verifies.
    secret = wp_specialchars_decode(channel.webhook_secret)
    resource, _, event = topic.partition(".")
    return simulation.SimulatedDelivery(
        path=reverse("webhooks:woocommerce", args=[channel.pk]),
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": channel.shop_identifier.rstrip("/") + "/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": hmac_sha256_base64(secret, body),
            "X-WC-Webhook-ID": WEBHOOK_ID,
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        },
    )
