"""What a campaign would do before it goes: who receives it, in how many segments, at what cost.

Recipients are the audience's opted-in contacts (the others get a suppressed message, on record,
and cost nothing). Segments are those of the template rendered with sample data, so a recipient
whose name is longer, or written outside GSM-7, costs more than the estimate says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q

from messaging.campaigns import AudienceError, audience
from messaging.models import Campaign, CampaignStatus, ConsentState, MessagingSettings
from messaging.rendering import TemplateError, render
from messaging.segments import Cost, Segments, money, segments_of


@dataclass(frozen=True)
class AudienceSize:
    matching: int  # contacts the audience's filters match
    recipients: int  # of those, opted in: a message goes to each
    opted_out: int

    def __str__(self) -> str:
        text = f"{self.recipients} recipient{'' if self.recipients == 1 else 's'}"
        skipped = self.matching - self.recipients
        if skipped:
            text += (
                f" (of {self.matching} matching contacts; {skipped} not opted in, "
                f"{self.opted_out} of them opted out, are suppressed)"
            )
        return text


def audience_size(campaign: Campaign) -> AudienceSize:
    """The campaign's audience as it stands (AudienceError for an audience that cannot be read)."""
    counts = audience(campaign).aggregate(
        matching=Count("pk"),
        recipients=Count("pk", filter=Q(consent=ConsentState.OPTED_IN)),
        opted_out=Count("pk", filter=Q(consent=ConsentState.OPTED_OUT)),
    )
    return AudienceSize(**counts)


def segment_price(organization_id: int) -> tuple[Decimal, str]:
    """What a segment costs the organization and in which currency: its own price when it set one
    (in its currency, else the hub's), else MESSAGING_SEGMENT_PRICE."""
    own = (
        MessagingSettings.objects.filter(organization_id=organization_id)
        .values("segment_price", "segment_currency")
        .first()
    )
    currency = settings.MESSAGING_SEGMENT_CURRENCY
    if own is not None and own["segment_price"] is not None:
        return own["segment_price"], own["segment_currency"] or currency
    return Decimal(settings.MESSAGING_SEGMENT_PRICE), currency


@dataclass(frozen=True)
class SendEstimate:
    size: AudienceSize
    sample: str  # the template rendered with sample data
    segments: Segments  # of the sample: each message's
    cost: Cost  # of every recipient's message

    @property
    def total_segments(self) -> int:
        return self.cost.segments


def campaign_estimate(campaign: Campaign, sample_context: dict[str, Any]) -> SendEstimate:
    """Recipients, segments and cost of the campaign if it went now (TemplateError, AudienceError
    when it cannot go at all)."""
    size = audience_size(campaign)
    sample = render(campaign.template, sample_context)
    segments = segments_of(sample)
    price, currency = segment_price(campaign.organization_id)
    return SendEstimate(size, sample, segments, Cost(size.recipients * segments.segments, price, currency))


@dataclass(frozen=True)
class PlannedSend:
    """One campaign of a send's confirmation: its estimate, or why it cannot go (`problem`)."""

    campaign: Campaign
    estimate: SendEstimate | None
    problem: str


@dataclass(frozen=True)
class SendPlan:
    rows: list[PlannedSend]

    @property
    def going(self) -> list[PlannedSend]:
        return [row for row in self.rows if not row.problem]

    @property
    def recipients(self) -> int:
        return sum(row.estimate.size.recipients for row in self.going if row.estimate)

    @property
    def segments(self) -> int:
        return sum(row.estimate.total_segments for row in self.going if row.estimate)

    @property
    def cost(self) -> str:
        """The estimated cost of all that goes, per currency (campaigns of several organizations)."""
        totals: dict[str, Decimal] = {}
        for row in self.going:
            if row.estimate:
                cost = row.estimate.cost
                totals[cost.currency] = totals.get(cost.currency, Decimal(0)) + cost.total
        return " + ".join(money(total, currency) for currency, total in totals.items()) or "nothing"


def send_plan(
    campaigns: Iterable[Campaign], sample_context: dict[str, Any], *, at_scheduled: bool
) -> SendPlan:
    """What sending (or scheduling) these campaigns would do, and which cannot go and why: not a
    draft, no time to schedule at, an audience or template that cannot be read, or, sent now,
    nobody opted in to receive it."""
    rows = []
    for campaign in campaigns:
        estimate, problem = None, ""
        try:
            estimate = campaign_estimate(campaign, sample_context)
        except (AudienceError, TemplateError) as exc:
            problem = str(exc)
        if campaign.status != CampaignStatus.DRAFT:
            problem = f"it is {campaign.get_status_display().lower()} already"
        elif at_scheduled and not campaign.scheduled_at:
            problem = "set its 'scheduled at' first"
        elif estimate and not estimate.size.recipients and not at_scheduled:
            problem = f"nobody would receive it: {estimate.size}"
        rows.append(PlannedSend(campaign, estimate, problem))
    return SendPlan(rows)
