"""An EasyPost tracker Event, as EasyPost sends it now (channels_app.platforms.simulation)."""

from __future__ import annotations

import uuid

from django.urls import reverse

from channels_app.models import Channel
from channels_app.platforms import simulation
from channels_app.platforms.easypost.webhooks import HANDLERS, PREFIX, sign

TOPICS = sorted(HANDLERS)


def delivery(channel: Channel, topic: str) -> simulation.SimulatedDelivery:
    payload = simulation.sample(__package__, "easypost", topic, TOPICS)
    stamped = simulation.now().isoformat().replace("+00:00", "Z")
    # A new Event (its id is the identity), made now.
    payload.update(id=f"evt_{uuid.uuid4().hex}", created_at=stamped, updated_at=stamped)
    body = simulation.json_bytes(payload)
    return simulation.SimulatedDelivery(
        path=reverse("webhooks:carrier-channel", args=[channel.platform, channel.pk]),
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Hmac-Signature": PREFIX + sign(channel.webhook_secret, body),
        },
    )
