"""An AfterShip tracking webhook, as AfterShip sends it now (channels_app.platforms.simulation)."""

from __future__ import annotations

import uuid

from django.urls import reverse

from channels_app.intake import hmac_sha256_base64
from channels_app.models import Channel
from channels_app.platforms import simulation
from channels_app.platforms.aftership.webhooks import HANDLERS

TOPICS = sorted(HANDLERS)


def delivery(channel: Channel, topic: str) -> simulation.SimulatedDelivery:
    payload = simulation.sample(__package__, "aftership", topic, TOPICS)
    # A new event (its event_id is the identity), sent now.
    payload.update(event_id=str(uuid.uuid4()), ts=int(simulation.now().timestamp()))
    body = simulation.json_bytes(payload)
    return simulation.SimulatedDelivery(
        path=reverse("webhooks:carrier-channel", args=[channel.platform, channel.pk]),
        body=body,
        headers={
            "Content-Type": "application/json",
            "aftership-hmac-sha256": hmac_sha256_base64(channel.webhook_secret, body),
        },
    )
