"""Scheduled messaging housekeeping: retention, retry of transient failures, daily roll-ups."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from messaging.models import DailyReport, Message, MessageStatus
from messaging.queueing import BATCH, messages_enqueue
from orders.events import commerce_events_purge

SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)


def messages_purge() -> int:
    """Delete messages older than MESSAGING_RETAIN_DAYS (their day's roll-up stays), and the
    commerce events handed on before then; how many messages."""
    before = timezone.now() - timedelta(days=settings.MESSAGING_RETAIN_DAYS)
    finished = [*SENT, MessageStatus.FAILED, MessageStatus.SUPPRESSED]
    deleted, _ = Message.objects.filter(created_at__lt=before, status__in=finished).delete()
    commerce_events_purge(before=before)
    return deleted


def failures_retry(*, older_than: int = 600, max_age: int = 24 * 3600) -> int:
    """Queue again messages that failed for a reason that may have passed (the provider was down
    past the job's own retries), once per pass, for a day at most."""
    now = timezone.now()
    waiting = Message.objects.filter(
        status=MessageStatus.FAILED,
        retryable=True,
        updated_at__lt=now - timedelta(seconds=older_than),
        created_at__gt=now - timedelta(seconds=max_age),
    )
    # One that was handed to the provider may have gone (its answer lost): SENDING, its job looks
    # for it before sending it again. One never tried is simply queued. A campaign's go back in
    # batches on messaging-bulk, the others (an automation's) one by one, first.
    groups: defaultdict[int | None, list[int]] = defaultdict(list)
    for pk, sent_at, campaign_id in waiting.values_list("pk", "sent_at", "campaign_id").iterator():
        status = MessageStatus.SENDING if sent_at else MessageStatus.QUEUED
        if Message.objects.filter(pk=pk, status=MessageStatus.FAILED).update(
            status=status, retryable=False, error="", updated_at=now
        ):
            groups[campaign_id].append(pk)
    for campaign, ids in groups.items():
        size = BATCH if campaign is not None else 1
        for start in range(0, len(ids), size):
            messages_enqueue(ids[start : start + size], bulk=campaign is not None)
    return sum(map(len, groups.values()))


def reports_roll_up(day: date | None = None) -> int:
    """Each organization's messages of `day` (default: yesterday and today, UTC) counted."""
    today = timezone.now().astimezone(UTC).date()
    days = [day] if day else [today - timedelta(days=1), today]
    written = 0
    for one in days:
        start = datetime.combine(one, time(0), tzinfo=UTC)
        rows = (
            Message.objects.filter(created_at__gte=start, created_at__lt=start + timedelta(days=1))
            .values("organization_id", "status", "suppression_reason")
            .annotate(n=Count("pk"))
            .order_by()
        )
        reports: dict[int, dict[str, object]] = {}
        for row in rows:
            report = reports.setdefault(
                row["organization_id"],
                {"sent": 0, "delivered": 0, "undelivered": 0, "failed": 0, "suppressed": {}},
            )
            status, n = row["status"], row["n"]
            if status in SENT:
                report["sent"] = int(report["sent"]) + n  # type: ignore[call-overload]
            if status in (MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED):
                report[status] = int(report[status]) + n  # type: ignore[call-overload]
            if status == MessageStatus.SUPPRESSED:
                suppressed = report["suppressed"]
                assert isinstance(suppressed, dict)
                reason = row["suppression_reason"] or "unknown"
                suppressed[reason] = suppressed.get(reason, 0) + n
        for organization_id, counts in reports.items():
            DailyReport.objects.update_or_create(organization_id=organization_id, day=one, defaults=counts)
            written += 1
    return written
