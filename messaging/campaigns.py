"""Campaigns: the audience materialized in batches, one message per contact, deliveries enqueued
in bulk (rq's enqueue_many in one Redis pipeline per batch).

The fan-out job (`messaging-campaigns`) walks the audience by contact id, a thousand at a time,
never holding it in memory: each batch's messages are inserted at once (the database refuses a
second message to a contact for the same campaign, so a retried batch adds nothing), then their
delivery jobs are enqueued together, and the campaign records how far it got. A campaign whose job
died goes on from there.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import ngettext

from config.jobs import enqueue_replacing, enqueue_unique
from config.workers import running_as_job
from messaging.consent import no_consent_reason
from messaging.models import (
    Campaign,
    CampaignStatus,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    Suppression,
    audience_valid,
)
from messaging.queueing import BATCH as DELIVERY_BATCH
from messaging.queueing import batches_enqueue

logger = logging.getLogger(__name__)

FANOUT_JOB = "messaging.jobs.fan_out_campaign"
BATCH = 1000


class AudienceError(ValueError):
    pass


def audience(campaign: Campaign) -> QuerySet[Contact]:
    """The campaign's contacts: its organization's, narrowed by its `audience` filter. Everyone
    matching is messaged or suppressed with a reason (a STOP is a suppressed message, on record)."""
    try:
        audience_valid(campaign.audience)  # saved before audiences were checked, or by a script
    except ValidationError as exc:
        raise AudienceError("; ".join(exc.messages)) from None
    filters = {
        key: _moment(value) if key.startswith("created_at") else value
        for key, value in campaign.audience.items()
    }
    return Contact.objects.filter(organization_id=campaign.organization_id, **filters)


def _moment(value: str) -> datetime:
    """A date or a date and time of an audience, as an aware datetime (a date is its midnight)."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        assert day is not None  # audience_valid let only dates and datetimes through
        moment = datetime.combine(day, time.min)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def campaign_send(campaign: Campaign, at: datetime | None = None) -> Campaign:
    """Schedule the campaign's fan-out now or at `at` (after the caller's transaction commits).
    Sending now to an audience with nobody opted in is refused: it would end "sent" to no one.
    A later time is taken whatever the audience holds today (an import may fill it by then)."""
    contacts = audience(campaign)  # A bad filter raises here, to the merchant, rather than in a worker.
    if at is None and not contacts.filter(consent=ConsentState.OPTED_IN).exists():
        count = contacts.count()
        raise AudienceError(
            ngettext(
                "nobody would receive it: its audience has %(n)d contact, not opted in",
                "nobody would receive it: its audience has %(n)d contacts, none opted in",
                count,
            )
            % {"n": count}
        )
    status = CampaignStatus.SCHEDULED
    Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
        status=status, scheduled_at=at
    )
    campaign.refresh_from_db()
    if campaign.status == CampaignStatus.SCHEDULED:

        def enqueue_after_commit() -> None:
            _enqueue_fanout(campaign.pk, at)

        # Robust: with Redis down the campaign stays recorded as SCHEDULED, and the sweep enqueues it.
        transaction.on_commit(enqueue_after_commit, robust=True)
    return campaign


def _enqueue_fanout(campaign_id: int, at: datetime | None) -> None:
    enqueue_unique("messaging-campaigns", FANOUT_JOB, campaign_id, job_id=f"campaign-{campaign_id}", at=at)


def campaigns_sweep(*, older_than: int = 120) -> int:
    """Enqueue the fan-out of campaigns whose job is gone: due and still SCHEDULED (Redis was
    down), or SENDING with no live job (its worker died; it goes on from where it got)."""
    now = timezone.now()
    stale = Campaign.objects.filter(
        Q(status=CampaignStatus.SCHEDULED) & (Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
        | Q(status=CampaignStatus.SENDING),
        created_at__lt=now - timedelta(seconds=older_than),
    )
    swept = 0
    for campaign in stale:
        # A live fan-out goes on by itself; a dead one's job is replaced, and goes on from where it got.
        swept += enqueue_replacing("messaging-campaigns", FANOUT_JOB, campaign.pk, job_id=campaign.job_id)
    return swept


def campaign_cancel(campaign: Campaign) -> int:
    """Stop the campaign: its messages not yet sent are suppressed (`campaign_cancelled`). A
    campaign fanned out already (SENT) whose deliveries are still waiting is cancelled too."""
    still_going = [CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.SENDING]
    if Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).exists():
        still_going.append(CampaignStatus.SENT)
    Campaign.objects.filter(pk=campaign.pk, status__in=still_going).update(
        status=CampaignStatus.CANCELLED, finished_at=timezone.now()
    )
    # Rows locked in id order, as a delivery's claim takes them, so the two never deadlock; a
    # batch claimed already sees the cancel before each send.
    queued = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    suppressed = 0
    while ids := list(queued.order_by("pk").values_list("pk", flat=True)[:1000]):
        with transaction.atomic():
            locked = list(
                Message.objects.select_for_update()
                .filter(pk__in=ids, status=MessageStatus.QUEUED)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            suppressed += Message.objects.filter(pk__in=locked).update(
                status=MessageStatus.SUPPRESSED,
                suppression_reason=Suppression.CAMPAIGN_CANCELLED,
                updated_at=timezone.now(),
            )
    return suppressed


def campaign_fan_out(campaign_id: int) -> dict[str, int]:
    """Materialize the audience and enqueue its deliveries, batch by batch (resumable)."""
    claimable = [CampaignStatus.SCHEDULED]
    if running_as_job(f"campaign-{campaign_id}"):
        claimable.append(CampaignStatus.SENDING)  # Its own retry, which goes on from resume_after.
    now = timezone.now()
    claimed = Campaign.objects.filter(pk=campaign_id, status__in=claimable).update(
        status=CampaignStatus.SENDING, started_at=now
    )
    campaign = Campaign.objects.get(pk=campaign_id)
    if not claimed:
        return {"skipped": 1}
    contacts = audience(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(audience_total=contacts.count())
    after = campaign.resume_after
    while True:
        if Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.CANCELLED).exists():
            return {"cancelled": 1}
        batch = list(contacts.filter(pk__gt=after).order_by("pk").values_list("pk", "consent")[:BATCH])
        if not batch:
            break
        # Those without consent now are suppressed here, on record with the reason; delivery
        # reads the consent of the others again under their lock.
        Message.objects.bulk_create(
            [
                Message(
                    organization_id=campaign.organization_id,
                    contact_id=pk,
                    campaign_id=campaign.pk,
                    **_without_consent(consent),
                )
                for pk, consent in batch
            ],
            ignore_conflicts=True,  # A retried batch finds its messages made already.
        )
        waiting = list(
            Message.objects.filter(
                campaign=campaign, contact_id__in=[pk for pk, _ in batch], status=MessageStatus.QUEUED
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        batches_enqueue(
            [waiting[start : start + DELIVERY_BATCH] for start in range(0, len(waiting), DELIVERY_BATCH)]
        )
        after = batch[-1][0]
        Campaign.objects.filter(pk=campaign.pk).update(
            resume_after=after, materialized=F("materialized") + len(batch)
        )
    Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).update(
        status=CampaignStatus.SENT, finished_at=timezone.now()
    )
    campaign.refresh_from_db()
    if not campaign.materialized:
        # Its audience emptied between the send and now (a scheduled one): on record as sent to 0.
        logger.warning("campaign %s went out to nobody: its audience matched no contact", campaign.pk)
    logger.info("campaign %s fanned out to %s contacts", campaign.pk, campaign.materialized)
    return {"messages": campaign.materialized}


def _without_consent(consent: str) -> dict[str, str]:
    if consent == ConsentState.OPTED_IN:
        return {}
    return {"status": MessageStatus.SUPPRESSED, "suppression_reason": no_consent_reason(consent)}


def campaign_report(campaign: Campaign) -> dict[str, Any]:
    """Its messages by status and by suppression reason."""
    rows = (
        Message.objects.filter(campaign=campaign)
        .values("status", "suppression_reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_status: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    for row in rows:
        by_status[row["status"]] += row["n"]
        if row["suppression_reason"]:
            by_reason[row["suppression_reason"]] += row["n"]
    return {
        "campaign": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "audience": campaign.audience_total,
        "messages": sum(by_status.values()),
        "by_status": dict(sorted(by_status.items())),
        "suppressed_by_reason": dict(sorted(by_reason.items())),
    }
