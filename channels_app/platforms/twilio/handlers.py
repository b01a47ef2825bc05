"""Twilio's status callbacks and inbound messages, read into what messaging records."""

from __future__ import annotations

from typing import Any

from channels_app.models import ProcessedWebhookEvent
from channels_app.outcomes import Outcome, ignored
from channels_app.platforms.shapes import validated
from channels_app.platforms.twilio.client import UNSUBSCRIBED
from channels_app.platforms.twilio.payloads import InboundMessage, StatusCallback
from messaging.inbound import message_status, people_message
from messaging.models import MessageStatus

STATUSES = {
    "accepted": MessageStatus.SENDING,
    "queued": MessageStatus.SENDING,
    "sending": MessageStatus.SENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}


def status_apply(event: ProcessedWebhookEvent, fetched: Any) -> Outcome | None:
    callback = validated(StatusCallback, event.payload, "Twilio status callback")
    given = callback.MessageStatus or callback.SmsStatus or ""
    status = STATUSES.get(given.lower())
    if status is None:
        return ignored(f"status {given!r} is not one the hub records")
    code = callback.ErrorCode or ""
    return message_status(
        organization_id=event.channel.organization_id,
        provider_id=callback.MessageSid or callback.SmsSid or "",
        status=status,
        error=f"Twilio error {code}" if code else "",
        # The recipient sent STOP to the carrier: an opt-out the hub must keep too.
        opted_out=f"Twilio {code}" if code == str(UNSUBSCRIBED) else "",
    )


def inbound_apply(event: ProcessedWebhookEvent, fetched: Any) -> Outcome | None:
    inbound = validated(InboundMessage, event.payload, "Twilio inbound message")
    return people_message(
        organization_id=event.channel.organization_id,
        sender=inbound.From,
        text=inbound.Body or "",
        event_key=event.event_key,
    )
