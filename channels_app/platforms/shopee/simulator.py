"""A Shopee push of a handled code, as Shopee sends it now (channels_app.platforms.simulation)."""

from __future__ import annotations

from django.urls import reverse

from channels_app.models import Channel
from channels_app.platforms import simulation
from channels_app.platforms.shopee.webhooks import HANDLERS, sign

TOPICS = sorted(HANDLERS)


def delivery(channel: Channel, topic: str) -> simulation.SimulatedDelivery:
    payload = simulation.sample(__package__, "shopee", topic, TOPICS)
    # A push names its shop in the body and is stamped when sent (its identity includes the time).
    sent_at = int(simulation.now().timestamp())
    payload["shop_id"] = int(channel.shop_identifier)
    payload["timestamp"] = sent_at
    if isinstance(payload.get("data"), dict) and "update_time" in payload["data"]:
        payload["data"]["update_time"] = sent_at
    body = simulation.json_bytes(payload)
    return simulation.SimulatedDelivery(
        path=reverse("webhooks:shopee"),
        body=body,
        # Over the callback URL registered with Shopee (WEBHOOK_BASE_URL's), as the hub verifies it.
        headers={"Content-Type": "application/json", "Authorization": sign(channel.webhook_secret, body)},
    )
