"""What an SMS provider tells the hub: a message's status, and messages people send.

Both arrive as webhook events (channels_app intake: verified, stored, deduplicated) and are
applied here in the event's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from channels_app.handlers import Outcome, ignored
from channels_app.platforms.shapes import validated
from messaging.consent import consent_record, keyword
from messaging.models import ConsentState, Contact, Message, MessageStatus
from messaging.phones import PhoneError, e164
from messaging.queueing import messages_enqueue
from messaging.rules import rules_for
from messaging.twilio import InboundMessage, StatusCallback

if TYPE_CHECKING:
    from channels_app.models import ProcessedWebhookEvent

# A status only moves forward: a late "sent" never undoes "delivered".
RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
}
TWILIO_STATUS = {
    "accepted": MessageStatus.SENDING,
    "queued": MessageStatus.SENDING,
    "sending": MessageStatus.SENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}
STOP_REPLY = "You are unsubscribed and will receive no more messages. Reply START to subscribe again."
START_REPLY = "You are subscribed again. Reply STOP to unsubscribe, HELP for help."


def status_apply(event: ProcessedWebhookEvent, fetched: Any) -> Outcome | None:
    callback = validated(StatusCallback, event.payload, "Twilio status callback")
    sid = callback.MessageSid or callback.SmsSid or ""
    given = callback.MessageStatus or callback.SmsStatus or ""
    status = TWILIO_STATUS.get(given.lower())
    if status is None:
        return ignored(f"status {given!r} is not one the hub records")
    message = (
        Message.objects.select_for_update()
        .filter(provider_id=sid, organization_id=event.channel.organization_id)
        .first()
    )
    if message is None:
        return ignored("no message of the hub has that SID")
    if RANK[status] <= RANK.get(message.status, 0) and message.status != MessageStatus.SENDING:
        return ignored(f"stale: the message is {message.status} already")
    fields: dict[str, Any] = {"status": status, "updated_at": timezone.now()}
    if status == MessageStatus.DELIVERED:
        fields["delivered_at"] = timezone.now()
    code = callback.ErrorCode or ""
    if code:
        fields["error"] = f"Twilio error {code}"
    Message.objects.filter(pk=message.pk).update(**fields)
    if code == "21610":  # the recipient sent STOP to the carrier
        consent_record(message.contact, ConsentState.OPTED_OUT, source="carrier", text=f"Twilio {code}")
    return None


def inbound_apply(event: ProcessedWebhookEvent, fetched: Any) -> Outcome | None:
    """STOP (and its variants) opts out at once, START opts back in, HELP gets the help text;
    each gets one reply. Anything else is recorded and left for a person."""
    inbound = validated(InboundMessage, event.payload, "Twilio inbound message")
    text = inbound.Body or ""
    word = keyword(text)
    if word is None:
        return ignored("not a keyword")
    organization_id = event.channel.organization_id
    try:
        phone = e164(inbound.From)
    except PhoneError as exc:
        return ignored(f"sender: {exc}")
    contact, _ = Contact.objects.get_or_create(organization_id=organization_id, phone=phone)
    if word == "stop":
        consent_record(contact, ConsentState.OPTED_OUT, source="inbound SMS", text=text)
        reply = STOP_REPLY
    elif word == "start":
        consent_record(contact, ConsentState.OPTED_IN, source="inbound SMS", text=text)
        reply = START_REPLY
    else:
        reply = rules_for(organization_id).help_text
    answer = Message.objects.create(
        organization_id=organization_id,
        contact=contact,
        event_key=f"reply:{event.event_key}"[:200],
        transactional=True,
        keyword_reply=True,
        body=reply,
    )
    transaction.on_commit(lambda: messages_enqueue([answer.pk]), robust=True)
    return None
