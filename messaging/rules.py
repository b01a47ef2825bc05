"""When a message may go: quiet hours in the recipient's own time zone.

A message due inside the quiet hours is deferred to their end, the next allowed minute in the
recipient's zone, whatever daylight saving does between now and then; never dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count

from messaging.models import Contact, Message, MessageStatus, MessagingSettings
from messaging.phones import zone_of


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
        day += timedelta(days=1)  # the evening part of a window that ends tomorrow morning
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
            sent_at__gt=since,  # no upper bound: a send under way counts whatever its claim's time
        )
        .values("contact_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return Counter({row["contact_id"]: row["n"] for row in rows})
