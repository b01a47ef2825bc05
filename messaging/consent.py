"""Consent: every opt-in and opt-out written to the ledger, the contact's state its latest entry.

Inbound keywords follow the carriers' (CTIA) rules as Twilio applies them: the whole message, in
any case, surrounding spaces ignored, is the keyword.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from messaging.models import ConsentEvent, ConsentState, Contact, Suppression

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
# Twilio's own opt-in and help words: it acts on YES and INFO too, so the hub must agree with it.
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def no_consent_reason(consent: str) -> str:
    """Why a message to a contact in this consent state is suppressed."""
    return Suppression.OPTED_OUT if consent == ConsentState.OPTED_OUT else Suppression.NO_CONSENT


class Keyword(StrEnum):
    """What an inbound message asks for, when the whole of it is a keyword."""

    STOP = "stop"
    START = "start"
    HELP = "help"


def keyword(text: str) -> Keyword | None:
    """The keyword the whole message is, or None when it is not one (a sentence that merely
    contains "stop" is left for a person)."""
    word = (text or "").strip().upper()
    if word in STOP_WORDS:
        return Keyword.STOP
    if word in START_WORDS:
        return Keyword.START
    if word in HELP_WORDS:
        return Keyword.HELP
    return None


def consent_record(contact: Contact, state: str, *, source: str, text: str = "") -> bool:
    """Write the opt-in or opt-out to the ledger and to the contact, at once; whether the
    contact's state changed (a second STOP is recorded too, but changes nothing)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        ConsentEvent.objects.create(contact=locked, state=state, source=source[:50], text=text)
        changed = locked.consent != state
        fields = {"consent": state, "consent_source": source[:50], "consent_at": now}
        if state == ConsentState.OPTED_OUT and changed:
            fields["opted_out_at"] = now
        Contact.objects.filter(pk=locked.pk).update(**fields)
    for name, value in fields.items():
        setattr(contact, name, value)
    return changed
