"""Messaging housekeeping: retention, retry of transient failures, daily roll-ups per organization."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from messaging.housekeeping import failures_retry, messages_purge, reports_roll_up
from messaging.models import ConsentState, Contact, DailyReport, Message, MessageStatus
from tests.channels_app import factories

pytestmark = pytest.mark.django_db(transaction=True)


def make(organization, n, status, **fields):
    contact = Contact.objects.create(
        organization=organization,
        phone=f"+1415555{Contact.objects.count():04d}",
        consent=ConsentState.OPTED_IN,
    )
    return [
        Message.objects.create(organization=organization, contact=contact, status=status, **fields)
        for _ in range(n)
    ]


def backdate(messages, **delta):
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(
        created_at=timezone.now() - timedelta(**delta), updated_at=timezone.now() - timedelta(**delta)
    )


def test_old_finished_messages_go_and_waiting_ones_stay(organization, settings):
    settings.MESSAGING_RETAIN_DAYS = 30
    old = make(organization, 2, MessageStatus.DELIVERED) + make(organization, 1, MessageStatus.SUPPRESSED)
    waiting = make(organization, 1, MessageStatus.QUEUED)
    backdate(old + waiting, days=31)
    make(organization, 1, MessageStatus.SENT)

    assert messages_purge() == 3
    assert list(Message.objects.values_list("status", flat=True).order_by("status")) == ["queued", "sent"]


def test_transient_failures_are_retried_once_per_pass_and_permanent_ones_never(organization, run_worker):
    transient = make(organization, 1, MessageStatus.FAILED, retryable=True, body="hi")
    permanent = make(organization, 1, MessageStatus.FAILED, retryable=False, body="hi")
    backdate(transient + permanent, minutes=20)

    assert failures_retry() == 1
    assert failures_retry() == 0  # queued now, no longer failed
    run_worker("messaging-delivery")

    assert Message.objects.get(pk=transient[0].pk).status == MessageStatus.SENT
    assert Message.objects.get(pk=permanent[0].pk).status == MessageStatus.FAILED


def test_daily_reports_count_each_organizations_messages_by_status_and_reason(organization):
    other = factories.organization("globex")
    make(organization, 3, MessageStatus.DELIVERED)
    make(organization, 1, MessageStatus.UNDELIVERED)
    make(organization, 2, MessageStatus.FAILED)
    make(organization, 2, MessageStatus.SUPPRESSED, suppression_reason="opted_out")
    make(organization, 1, MessageStatus.SUPPRESSED, suppression_reason="frequency_cap")
    make(other, 1, MessageStatus.SENT)
    yesterday = make(organization, 4, MessageStatus.SENT)
    backdate(yesterday, days=1)

    assert reports_roll_up() == 3  # two organizations today, one yesterday
    today = timezone.now().astimezone(UTC).date()
    report = DailyReport.objects.get(organization=organization, day=today)
    assert (report.sent, report.delivered, report.undelivered, report.failed) == (4, 3, 1, 2)
    assert report.suppressed == {"opted_out": 2, "frequency_cap": 1}
    assert DailyReport.objects.get(organization=organization, day=today - timedelta(days=1)).sent == 4
    assert reports_roll_up(today) == 2 and DailyReport.objects.count() == 3  # rolled up again, not twice
