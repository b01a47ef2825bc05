"""A Twilio status callback or inbound message, as Twilio posts it now
(channels_app.platforms.simulation)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from channels_app.models import Channel
from channels_app.platforms import simulation
from channels_app.platforms.twilio.webhooks import HANDLERS, signature

TOPICS = sorted(HANDLERS)
_ROUTES = {"sms/status": "webhooks:sms-status", "sms/inbound": "webhooks:sms-inbound"}


def delivery(channel: Channel, topic: str) -> simulation.SimulatedDelivery:
    form: dict[str, str] = simulation.sample(__package__, "twilio", topic, TOPICS)
    form["AccountSid"] = channel.shop_identifier
    # A new message: Twilio's ids are SM and 32 hexadecimal digits, and name the event.
    sid = "SM" + uuid.uuid4().hex
    for name in ("MessageSid", "SmsSid", "SmsMessageSid"):
        if name in form:
            form[name] = sid
    path = reverse(_ROUTES[topic], args=[channel.platform])
    # Twilio signs the URL it was given (the hub's, from WEBHOOK_BASE_URL) and every parameter.
    url = settings.WEBHOOK_BASE_URL + path
    return simulation.SimulatedDelivery(
        path=path,
        body=urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature(channel.webhook_secret, url, form.items()),
        },
    )
