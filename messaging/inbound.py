"""What an SMS provider tells the hub: a message's status, and messages people send.

Both arrive as webhook events (channels_app intake: verified, stored, deduplicated); the
provider's handler (channels_app.platforms.twilio.handlers) reads them and they are applied here,
in the event's transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from channels_app.outcomes import Outcome, ignored
from messaging.consent import Keyword, consent_record, keyword
from messaging.contacts import phone_region
from messaging.models import ConsentState, Contact, Message, MessageStatus
from messaging.phones import PhoneError, e164
from messaging.queueing import messages_enqueue
from messaging.rules import rules_for

# A status only moves forward: a late "sent" never undoes "delivered".
RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
}
STOP_REPLY = "You are unsubscribed and will receive no more messages. Reply START to subscribe again."
START_REPLY = "You are subscribed again. Reply STOP to unsubscribe, HELP for help."


def message_status(
    *, organization_id: int, provider_id: str, status: str, error: str = "", opted_out: str = ""
) -> Outcome | None:
    """The provider says where a message is; `opted_out` names the provider's refusal when the
    recipient opted out with the carrier."""
    message = (
        Message.objects.select_for_update()
        .filter(provider_id=provider_id, organization_id=organization_id)
        .first()
    )
    if message is None:
        return ignored("no message of the hub has that SID")
    if RANK[status] <= RANK.get(message.status, 0) and message.status != MessageStatus.SENDING:
        return ignored(f"stale: the message is {message.status} already")
    fields: dict[str, Any] = {"status": status, "updated_at": timezone.now()}
    if status == MessageStatus.DELIVERED:
        fields["delivered_at"] = timezone.now()
    if error:
        fields["error"] = error
    Message.objects.filter(pk=message.pk).update(**fields)
    if opted_out:
        consent_record(message.contact, ConsentState.OPTED_OUT, source="carrier", text=opted_out)
    return None


def people_message(*, organization_id: int, sender: str, text: str, event_key: str) -> Outcome | None:
    """STOP (and its variants) opts out at once, START opts back in, HELP gets the help text;
    each gets one reply. Anything else is recorded and left for a person."""
    word = keyword(text)
    if word is None:
        return ignored("not a keyword")
    try:
        # The provider writes the sender in E.164; a local writing is read as the merchant's own.
        phone = e164(sender, phone_region(organization_id))
    except PhoneError as exc:
        return ignored(f"sender: {exc}")
    contact, _ = Contact.objects.get_or_create(organization_id=organization_id, phone=phone)
    if word is Keyword.STOP:
        consent_record(contact, ConsentState.OPTED_OUT, source="inbound SMS", text=text)
        reply = STOP_REPLY
    elif word is Keyword.START:
        consent_record(contact, ConsentState.OPTED_IN, source="inbound SMS", text=text)
        reply = START_REPLY
    else:
        reply = rules_for(organization_id).help_text
    answer = Message.objects.create(
        organization_id=organization_id,
        contact=contact,
        event_key=f"reply:{event_key}"[:200],
        transactional=True,
        keyword_reply=True,
        body=reply,
    )
    transaction.on_commit(lambda: messages_enqueue([answer.pk]), robust=True)
    return None
