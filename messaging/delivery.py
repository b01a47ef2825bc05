"""Delivering messages: every rule applied, every decision recorded.

A delivery job carries a batch: a campaign's hundred messages on `messaging-bulk`, or the one
message an automation or an inbound keyword made on `messaging-delivery`, which workers take
first. The rules apply to each message in order. A message to a contact without consent, or who
opted out, is suppressed. One due inside the recipient's quiet hours stays queued, and a job is
scheduled for their end. A marketing message past the frequency cap is suppressed. One whose
template cannot render fails with the template's error. Any other message is sent, once.

The rules live in messaging.rules; the claim that keeps two jobs from both sending one message,
and what a provider's failure does to a batch, in messaging.claims; job ids, enqueueing and the
sweep in messaging.queueing.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from channels_app import http
from config.queues import SPECS
from messaging.backends import Backend, backend_for
from messaging.claims import (
    LEASE,
    MessageOutcome,
    held,
    message_resume,
    message_send,
    messages_claim,
    messages_hand_over,
    messages_suppress,
    provider_failed,
    suppressed,
)
from messaging.models import Message, MessageStatus
from messaging.queueing import is_bulk, messages_defer
from messaging.rendering import TemplateError, render
from messaging.rules import Defer, Send, Suppress, message_decide, messages_withdrawn, rules_for

# A job sends for this many seconds, then hands the rest of its batch to a new job, so that it
# always ends well within its timeout.
BUDGET = SPECS["messaging-delivery"].timeout / 2
# Seconds between two looks for a cancel or an opt-out while a batch is being sent; each look
# costs two queries, so it is not made before every send.
RECHECK = 1.0


def messages_deliver(message_ids: Sequence[int], attempt: int = 0) -> dict[str, int]:
    """Apply the rules to these messages and send those that may go. Returns how many messages
    had each outcome (a MessageOutcome, or `suppressed: <reason>`)."""
    started = checked = time.monotonic()
    outcome: Counter[str] = Counter()
    messages = list(
        Message.objects.select_related("contact", "campaign", "automation")
        .filter(pk__in=message_ids)
        .order_by("pk")
    )
    now = timezone.now()
    ready: list[Message] = []
    resuming: list[Message] = []  # Left SENDING by a job that died, or by this one run again.
    later: defaultdict[datetime, list[Message]] = defaultdict(list)
    suppress: defaultdict[str, list[int]] = defaultdict(list)
    for message in messages:
        if message.status == MessageStatus.SENDING:
            if message.sent_at and message.sent_at > now - LEASE:
                # Its claimer still holds it: that job is sending it, or it died and the sweep
                # hands the message on once the lease has run out.
                outcome[MessageOutcome.IN_PROGRESS] += 1
            else:
                resuming.append(message)
            continue
        if message.status != MessageStatus.QUEUED:
            # A duplicate job, or a cancel that landed first, has settled it already.
            outcome[MessageOutcome.DONE_BEFORE] += 1
            continue
        match message_decide(message, rules_for(message.organization_id), now):
            case Suppress(reason):
                suppress[reason].append(message.pk)
            case Defer(until):
                later[until].append(message)
            case Send():
                if message.body or _render(message):
                    ready.append(message)
                else:
                    outcome[MessageOutcome.FAILED] += 1  # Its template cannot render.
    for reason, ids in suppress.items():
        outcome[messages_suppress(ids, reason)] += len(ids)
    for due, waiting in later.items():
        messages_defer([m.pk for m in waiting], due, bulk=is_bulk(waiting))
        outcome[MessageOutcome.DEFERRED] += len(waiting)
    work = resuming + messages_claim(ready, outcome)
    backends: dict[int, Backend] = {}
    withdrawn: dict[int, str] = {}
    sent_any = False
    for index, message in enumerate(work):
        if index and time.monotonic() - started > BUDGET:
            # This job has used its time (a slow provider, a rate limit), so a new job takes the
            # rest. Each job sends at least one message first, so that a batch always moves.
            messages_hand_over(work[index:], resuming, at=None, attempt=0 if sent_any else attempt)
            outcome[MessageOutcome.HANDED_OVER] += len(work) - index
            break
        if time.monotonic() - checked > RECHECK:
            # A cancel or an opt-out since the claim withdraws what this job has not sent yet.
            checked = time.monotonic()
            withdrawn = messages_withdrawn(work[index:], resuming)
        if message.pk in withdrawn:
            Message.objects.filter(held([message])).update(
                status=MessageStatus.SUPPRESSED,
                suppression_reason=withdrawn[message.pk],
                updated_at=timezone.now(),
            )
            outcome[suppressed(withdrawn[message.pk])] += 1
            continue
        try:
            backend = backends.get(message.organization_id)
            if backend is None:
                backend = backends[message.organization_id] = backend_for(rules_for(message.organization_id))
            done = message_resume(message, backend) if message in resuming else message_send(message, backend)
        except http.PlatformError as exc:
            outcome.update(provider_failed(work[index:], exc, 0 if sent_any else attempt, resuming))
            break
        outcome[done] += 1
        sent_any = True
    # What happened, without the zero counts, keyed by plain strings: rq stores the result.
    return {str(key): count for key, count in (+outcome).items()}


def _render(message: Message) -> bool:
    """Render the message's body from its template, and say whether that worked. A template that
    cannot render fails the message, with an error the merchant can read."""
    try:
        message.body = render(_template(message), _context(message))
    except TemplateError as exc:
        Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
            status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=timezone.now()
        )
        return False
    return True


def _template(message: Message) -> str:
    if message.campaign_id:
        return message.campaign.template  # type: ignore[union-attr]
    if message.automation_id:
        return message.automation.template  # type: ignore[union-attr]
    raise TemplateError("its campaign or automation was deleted: no template to send")


def _context(message: Message) -> dict[str, Any]:
    contact = message.contact
    return {"contact": {"name": contact.name, "phone": contact.phone}, **(message.context or {})}
