"""Delivering one message, on `messaging-delivery`: every rule applied, every decision recorded.

In order: no consent or opted out → suppressed; inside the recipient's quiet hours → deferred to
their end (the job is scheduled again, the message stays queued); marketing past the frequency
cap → suppressed; a template that cannot render → failed with its error; else sent once. The cap
check and the claim happen under a lock on the contact's row, so two deliveries to one contact
cannot both slip under the cap. A send whose answer was lost is looked for before it is sent
again.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from channels_app import http
from config.queues import SPECS, enqueue
from config.workers import job_will_retry
from messaging.backends import Outbound, Unsubscribed, backend_for
from messaging.consent import consent_record
from messaging.models import (
    Campaign,
    CampaignStatus,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    MessagingSettings,
    Suppression,
)
from messaging.rendering import TemplateError, render
from messaging.rules import cap_reached, next_allowed, recipient_zone

logger = logging.getLogger(__name__)

DELIVER_JOB = "messaging.jobs.deliver_message"


RULES_TTL = 30.0  # seconds a worker keeps an organization's settings (a campaign reads them 10,000 times)
_rules: dict[int, tuple[float, MessagingSettings]] = {}


def rules_for(organization_id: int) -> MessagingSettings:
    cached = _rules.get(organization_id)
    if cached is not None and time.monotonic() - cached[0] < RULES_TTL:
        return cached[1]
    rules, _ = MessagingSettings.objects.get_or_create(organization_id=organization_id)
    _rules[organization_id] = (time.monotonic(), rules)
    return rules


def delivery_job_id(message_id: int, at: datetime | None = None) -> str:
    """`sms-<id>`, or `sms-<id>-<due timestamp>` for a deferred delivery."""
    return f"sms-{message_id}" + (f"-{int(at.timestamp())}" if at else "")


def message_enqueue(message: Message, *, at: datetime | None = None) -> None:
    """Its delivery job, now or at `at` (a deferral); one job per message and due time."""
    from rq.exceptions import DuplicateJobError

    try:
        enqueue("messaging-delivery", DELIVER_JOB, message.pk, job_id=delivery_job_id(message.pk, at), at=at)
    except DuplicateJobError:
        pass  # that job is there already


def message_deliver(message_id: int) -> str:
    """Apply the rules to the message and send it; what became of it."""
    message = Message.objects.select_related("contact", "campaign", "automation").get(pk=message_id)
    if message.status == MessageStatus.SENDING:
        return _resume(message)
    if message.status != MessageStatus.QUEUED:
        return message.status  # done before (a duplicate job)
    now = timezone.now()
    if message.send_after and message.send_after > now:
        message_enqueue(message, at=message.send_after)  # an automation's delay: not yet
        return "deferred"
    rules = rules_for(message.organization_id)
    if message.keyword_reply:
        # The one answer to a STOP, START or HELP the person just sent: whatever their consent
        # (a STOP's confirmation goes to someone now opted out) and the hour.
        claimed = Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING, sent_at=now, claimed_job=_current_job_id(), updated_at=now
        )
        message.sent_at = now
        return _send(message, rules) if claimed else "taken by another job"
    decision = _allowed(message, rules, now)
    if decision is not None:
        return decision
    if not message.body:
        try:
            message.body = render(_template(message), _context(message))
        except TemplateError as exc:
            Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, error=str(exc)[:2000])
            return "failed"
    with transaction.atomic():
        # Under the contact's lock (an opt-out takes it too): consent again, then the cap, with the
        # time read now, so two deliveries to one contact see each other's claims.
        contact = Contact.objects.select_for_update().get(pk=message.contact_id)
        now = timezone.now()
        if contact.consent != ConsentState.OPTED_IN:
            reason = (
                Suppression.OPTED_OUT if contact.consent == ConsentState.OPTED_OUT else Suppression.NO_CONSENT
            )
            return _suppress(message, reason)
        if (
            message.campaign_id is not None  # read now: a cancel may have just landed
            and Campaign.objects.filter(pk=message.campaign_id, status=CampaignStatus.CANCELLED).exists()
        ):
            return _suppress(message, Suppression.CAMPAIGN_CANCELLED)
        if not message.transactional and cap_reached(contact, rules, now):
            return _suppress(message, Suppression.FREQUENCY_CAP)
        claimed = Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING,
            body=message.body,
            sent_at=now,
            claimed_job=_current_job_id(),
            updated_at=now,
        )
    if not claimed:
        return "taken by another job"
    message.sent_at = now
    return _send(message, rules)


def _allowed(message: Message, rules: MessagingSettings, now: datetime) -> str | None:
    """None if the message may go now; else what was decided (suppressed, deferred)."""
    contact = message.contact
    if contact.consent == ConsentState.OPTED_OUT:
        return _suppress(message, Suppression.OPTED_OUT)
    if contact.consent != ConsentState.OPTED_IN:
        return _suppress(message, Suppression.NO_CONSENT)
    zone = recipient_zone(contact, rules, (message.context or {}).get("address_zone", ""))
    allowed = next_allowed(now, zone, rules.quiet_start, rules.quiet_end)
    if allowed > now:
        Message.objects.filter(pk=message.pk, status=message.status).update(
            send_after=allowed, updated_at=now
        )
        message_enqueue(message, at=allowed)
        return "deferred"
    return None


def _current_job_id() -> str:
    from rq import get_current_job

    job = get_current_job()
    return job.id if job is not None else ""


def _send(message: Message, rules: MessagingSettings) -> str:
    outbound = Outbound(message.pk, message.contact.phone, message.body, message.sent_at or timezone.now())
    try:
        sent = backend_for(rules).send(outbound)
    except Unsubscribed as exc:
        consent_record(message.contact, ConsentState.OPTED_OUT, source="carrier", text=str(exc))
        return _suppress(message, Suppression.OPTED_OUT, error=str(exc))
    except http.PlatformError as exc:
        if not exc.permanent and job_will_retry(exc):
            raise  # rq tries again; the retry looks for a send whose answer was lost
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.FAILED, error=str(exc)[:2000], retryable=not exc.permanent
        )
        if exc.permanent:
            return "failed"
        raise
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENT, provider_id=sent.provider_id, error="", updated_at=timezone.now()
    )
    return "sent"


def _resume(message: Message) -> str:
    """A message left SENDING. Only its own job (a retry of it), or anyone once that job would
    have timed out, may take it on: another job's send may be under way. Sent if the provider has
    it; else, if it may still go (consent, quiet hours), sent now."""
    now = timezone.now()
    own = bool(message.claimed_job) and message.claimed_job == _current_job_id()
    abandoned = message.sent_at is None or now - message.sent_at > timedelta(
        seconds=SPECS["messaging-delivery"].timeout + 60
    )
    if not (own or abandoned):
        return "in progress"
    rules = rules_for(message.organization_id)
    outbound = Outbound(message.pk, message.contact.phone, message.body, message.sent_at or now)
    try:
        found = backend_for(rules).find(outbound)
    except http.PlatformError as exc:
        if not exc.permanent and job_will_retry(exc):
            raise
        Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, error=str(exc)[:2000])
        return "failed"
    if found is not None:
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.SENT, provider_id=found.provider_id, updated_at=now
        )
        return "sent (found)"
    message.contact.refresh_from_db()
    decision = None if message.keyword_reply else _allowed(message, rules, now)
    if decision is not None:
        return decision
    with transaction.atomic():
        taken = Message.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, sent_at=message.sent_at
        ).update(sent_at=now, claimed_job=_current_job_id(), updated_at=now)
    if not taken:
        return "taken by another job"
    message.sent_at = now
    return _send(message, rules)


def _suppress(message: Message, reason: str, error: str = "") -> str:
    Message.objects.filter(pk=message.pk, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]).update(
        status=MessageStatus.SUPPRESSED,
        suppression_reason=reason,
        error=error[:2000],
        updated_at=timezone.now(),
    )
    return f"suppressed: {reason}"


def _template(message: Message) -> str:
    if message.campaign_id:
        return message.campaign.template  # type: ignore[union-attr]
    if message.automation_id:
        return message.automation.template  # type: ignore[union-attr]
    raise TemplateError("its campaign or automation was deleted: no template to send")


def _context(message: Message) -> dict[str, Any]:
    contact = message.contact
    return {"contact": {"name": contact.name, "phone": contact.phone}, **(message.context or {})}


def messages_sweep(*, older_than: int = 300, limit: int = 5000) -> dict[str, int]:
    """Enqueue again the deliveries whose job is gone: queued messages that are due (Redis lost
    their job, or was down), and messages left SENDING by a worker that died (their job takes
    them on once the claim is older than the job's timeout, looking for the send first). Live
    ones are touched, so the next pass looks further down a long backlog."""
    from django.db.models import Q

    from channels_app.sweeper import JobState, discard_job, queue_job_state

    now = timezone.now()
    stale = now - timedelta(seconds=older_than)
    stuck = (
        Message.objects.filter(updated_at__lt=stale, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING])
        .filter(Q(send_after__isnull=True) | Q(send_after__lte=stale))
        .only("pk", "send_after", "status")
        .order_by("updated_at")[:limit]
    )
    result = {"requeued": 0, "live": 0}
    live: list[int] = []
    for message in stuck:
        job_id = delivery_job_id(message.pk, message.send_after)
        state, _ = queue_job_state(job_id, "messaging-delivery")
        if state in (JobState.LIVE, JobState.RUNNING):
            live.append(message.pk)
            continue
        discard_job(job_id)
        # Its new job is the plain one: forget a deferral whose time has come (if still so).
        Message.objects.filter(pk=message.pk, send_after=message.send_after).update(
            send_after=None, updated_at=now
        )
        message.send_after = None
        discard_job(delivery_job_id(message.pk))
        message_enqueue(message)
        result["requeued"] += 1
    Message.objects.filter(pk__in=live).update(updated_at=now)
    result["live"] = len(live)
    return result
