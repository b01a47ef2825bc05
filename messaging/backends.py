"""Where messages go: the local backend (development: recorded, nothing leaves the machine) or a
provider's API (Twilio's, in channels_app.platforms.twilio).

`SMS_BACKEND` names one of BACKENDS (`local` by default, `twilio`), a dotted path each, as Django's
own backends are named, so this app imports no provider's module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from channels_app import http
from messaging.models import MessagingSettings, OutboxRecord

logger = logging.getLogger(__name__)

BACKENDS = {
    "local": "messaging.backends.LocalBackend",
    "twilio": "channels_app.platforms.twilio.client.TwilioBackend",
}


@dataclass(frozen=True)
class Outbound:
    message_id: int
    to: str
    body: str
    sent_after: datetime  # when this attempt started: a lost answer is looked for from here


@dataclass(frozen=True)
class Sent:
    provider_id: str
    status: str  # the provider's: queued, sent, ...


class Unsubscribed(Exception):
    """The provider refuses: the recipient opted out with it (a STOP the hub did not see)."""

    permanent = True


class Backend(Protocol):
    rolls_back: bool  # whether a send is undone with the transaction it is made in

    def send(self, message: Outbound) -> Sent: ...

    def find(self, message: Outbound) -> Sent | None:
        """What an earlier attempt whose answer was lost may have sent, if anything."""
        ...


class LocalBackend:
    """Sends nothing: each send is an OutboxRecord (the admin and the tests read them)."""

    rolls_back = True

    def __init__(self, rules: MessagingSettings) -> None:
        self.rules = rules

    def send(self, message: Outbound) -> Sent:
        record = OutboxRecord.objects.create(message_id=message.message_id, to=message.to, body=message.body)
        return Sent(provider_id=f"local-{record.pk}", status="sent")

    def find(self, message: Outbound) -> Sent | None:
        record = OutboxRecord.objects.filter(message_id=message.message_id).order_by("pk").first()
        return Sent(provider_id=f"local-{record.pk}", status="sent") if record else None


def backend_for(rules: MessagingSettings) -> Backend:
    path = BACKENDS.get(settings.SMS_BACKEND)
    if path is None:
        names = " or ".join(BACKENDS)
        raise http.PlatformError(f"SMS_BACKEND={settings.SMS_BACKEND!r}: use {names}", permanent=True)
    backend: Backend = import_string(path)(rules)
    return backend
