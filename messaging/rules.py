"""The send rules: whether a message may go now, later, or not at all.

A message to a contact without consent, of a cancelled campaign, or reminding of a checkout that
was completed after all is suppressed, with the reason stored on it. A message due inside the
recipient's quiet hours is deferred to their end, the next allowed minute in the recipient's own
time zone, whatever daylight saving does between now and then; it is never dropped. Marketing
messages past the organization's frequency cap are suppressed; the cap is counted here and
checked under the contacts' locks when a batch is claimed (messaging.claims).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from time import monotonic
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count

from messaging.checkouts import checkout_completed
from messaging.consent import no_consent_reason
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
from messaging.phones import zone_of

# rq's scheduler may start a job up to this long before its time (it schedules by the second).
EARLY = timedelta(seconds=2)

# A worker keeps an organization's settings this many seconds: a campaign's delivery reads them
# once per message, 10,000 times for a campaign to 10,000 contacts.
RULES_TTL = 30.0
_rules: dict[int, tuple[float, MessagingSettings]] = {}


def rules_for(organization_id: int) -> MessagingSettings:
    """The organization's messaging settings, at most RULES_TTL seconds old."""
    cached = _rules.get(organization_id)
    if cached is not None and monotonic() - cached[0] < RULES_TTL:
        return cached[1]
    rules, _ = MessagingSettings.objects.get_or_create(organization_id=organization_id)
    _rules[organization_id] = (monotonic(), rules)
    return rules


@dataclass(frozen=True)
class Send:
    """The message may go now."""


@dataclass(frozen=True)
class Suppress:
    """The message must not go; `reason` is stored on it (a Suppression value)."""

    reason: str


@dataclass(frozen=True)
class Defer:
    """The message may go at `until`, not before: it stays queued, with a job scheduled then."""

    until: datetime


Decision = Send | Suppress | Defer


def message_decide(message: Message, rules: MessagingSettings, now: datetime) -> Decision:
    """Whether the message may go now, later or not at all, from what was read with it."""
    if message.campaign_id is not None and message.campaign.status == CampaignStatus.CANCELLED:  # type: ignore[union-attr]
        return Suppress(Suppression.CAMPAIGN_CANCELLED)
    # A deferred job started a moment early is on time: deferred again to the same time, its new
    # job would have this job's own id, and so would never be enqueued.
    soon = now + EARLY
    if message.send_after and message.send_after > soon:
        return Defer(message.send_after)  # An automation's delay, or quiet hours decided before.
    if message.keyword_reply:
        # The one answer to a STOP, START or HELP the person just sent: whatever their consent
        # (a STOP's confirmation goes to someone now opted out) and the hour.
        return Send()
    checkout = (message.context or {}).get("checkout")
    if checkout and checkout_completed(checkout["id"]):
        return Suppress(Suppression.CHECKOUT_COMPLETED)  # They bought after all: no reminder.
    contact = message.contact
    if contact.consent != ConsentState.OPTED_IN:
        return Suppress(no_consent_reason(contact.consent))
    zone = recipient_zone(contact, rules, (message.context or {}).get("address_zone", ""))
    allowed = next_allowed(soon, zone, rules.quiet_start, rules.quiet_end)
    return Defer(allowed) if allowed > soon else Send()


def messages_withdrawn(rest: list[Message], resuming: list[Message]) -> dict[int, str]:
    """Of the claimed messages not sent yet, those whose campaign was cancelled or whose contact
    opted out since the claim, each with its reason. Messages being resumed are left out, because
    message_resume decides again for each of them."""
    claimed = [m for m in rest if m not in resuming and not m.keyword_reply]
    campaigns = {m.campaign_id for m in claimed if m.campaign_id is not None}
    cancelled = set(
        Campaign.objects.filter(pk__in=campaigns, status=CampaignStatus.CANCELLED).values_list(
            "pk", flat=True
        )
    )
    consent = dict(
        Contact.objects.filter(pk__in={m.contact_id for m in claimed})
        .exclude(consent=ConsentState.OPTED_IN)
        .values_list("pk", "consent")
    )
    withdrawn: dict[int, str] = {}
    for message in claimed:
        if message.campaign_id in cancelled:
            withdrawn[message.pk] = Suppression.CAMPAIGN_CANCELLED
        elif message.contact_id in consent:
            withdrawn[message.pk] = no_consent_reason(consent[message.contact_id])
    return withdrawn


def recipient_zone(contact: Contact, rules: MessagingSettings, address_zone: str = "") -> ZoneInfo:
    """The contact's time zone; else the one of their shipping address; else the one their
    number's prefix has (when it has only one); else the organization's."""
    for name in (contact.time_zone, address_zone, zone_of(contact.phone), rules.time_zone, "UTC"):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a local time of day falls in [start, end), a window that may wrap midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(at: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """`at` if it is outside the quiet hours where the recipient is, else the quiet hours' end
    there (today's or tomorrow's), as an aware UTC datetime."""
    local = at.astimezone(zone)
    if not in_quiet_hours(local.time(), start, end):
        return at
    day = local.date()
    if start > end and local.time() >= start:
        day += timedelta(days=1)  # It is the evening part of a window that ends tomorrow morning.
    # A wall time that daylight saving skips (02:30 on a spring-forward night) is read with the
    # offset before the jump: it lands as far past the gap as it was into it (03:30).
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


# What the frequency cap counts: marketing messages that went (or are going) to the carrier.
CAPPED = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)


def marketing_sent(contact_ids: Iterable[int], rules: MessagingSettings, now: datetime) -> Counter[int]:
    """How many marketing messages each contact got in the last `cap_hours` hours (one sent
    exactly `cap_hours` ago no longer counts; transactional ones never do). A contact at
    `cap_messages` has reached the cap."""
    since = now - timedelta(hours=rules.cap_hours)
    rows = (
        Message.objects.filter(
            contact_id__in=contact_ids,
            transactional=False,
            status__in=CAPPED,
            sent_at__gt=since,  # No upper bound: a send under way counts, whatever its claim's time.
        )
        .values("contact_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return Counter({row["contact_id"]: row["n"] for row in rows})


def marketing_counts(messages: list[Message], now: datetime) -> Counter[int]:
    """Marketing messages each of their contacts got inside their organization's cap window."""
    counts: Counter[int] = Counter()
    by_organization: defaultdict[int, set[int]] = defaultdict(set)
    for message in messages:
        by_organization[message.organization_id].add(message.contact_id)
    for organization_id, contact_ids in by_organization.items():
        counts.update(marketing_sent(contact_ids, rules_for(organization_id), now))
    return counts
