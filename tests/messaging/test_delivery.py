"""Delivering messages on real burst workers: every rule at send time (consent, quiet hours, caps,
templates and their sandbox, a cancelled campaign, a delay), with the local backend."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from config.queues import get_queue
from messaging.consent import consent_record
from messaging.delivery import messages_deliver
from messaging.models import (
    Automation,
    Campaign,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    MessagingSettings,
    Suppression,
)
from tests.messaging.conftest import DOUBLING, NESTED_LOOPS, contact, deliver, message

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_message_with_consent_is_rendered_and_sent(organization, run_worker):
    (sent,) = deliver(run_worker, message(organization, contact(organization)))
    assert sent.status == MessageStatus.SENT and sent.provider_id.startswith("local-")
    assert sent.body == "Hi Wile, #1001 shipped" and sent.sent_at is not None


def test_no_consent_and_opted_out_are_suppressed_with_their_reason(organization, run_worker):
    unknown = contact(organization, "+14155550124", consent=ConsentState.UNKNOWN)
    stopped = contact(organization, "+14155550125", consent=ConsentState.OPTED_OUT)
    first, second = deliver(run_worker, message(organization, unknown), message(organization, stopped))
    assert (first.status, first.suppression_reason) == (MessageStatus.SUPPRESSED, Suppression.NO_CONSENT)
    assert (second.status, second.suppression_reason) == (MessageStatus.SUPPRESSED, Suppression.OPTED_OUT)
    assert first.provider_id == second.provider_id == ""


def test_inside_quiet_hours_a_message_waits_for_their_end_in_the_recipients_zone(organization, run_worker):
    zone = ZoneInfo("America/New_York")
    now = timezone.now().astimezone(zone)
    start, end = (
        (now - timedelta(hours=1)).time(),
        (now + timedelta(hours=2)).time().replace(second=0, microsecond=0),
    )
    MessagingSettings.objects.filter(organization=organization).update(quiet_start=start, quiet_end=end)
    person = contact(organization, time_zone="America/New_York")

    (waiting,) = deliver(run_worker, message(organization, person))

    assert waiting.status == MessageStatus.QUEUED  # deferred, not dropped
    local_end = waiting.send_after.astimezone(zone)
    assert local_end.time() == end and timedelta(hours=1) < waiting.send_after - timezone.now() < timedelta(
        hours=2
    )
    scheduled = get_queue("messaging-delivery").scheduled_job_registry.get_job_ids()
    assert scheduled == [f"sms-{waiting.pk}-{int(waiting.send_after.timestamp())}"]


def test_marketing_past_the_cap_is_suppressed_and_transactional_is_not(organization, run_worker):
    person = contact(organization)
    MessagingSettings.objects.filter(organization=organization).update(cap_messages=2)
    campaigns = [
        Campaign.objects.create(organization=organization, name=f"c{n}", template="Sale {{ n }}")
        for n in range(3)
    ]
    marketing = [
        Message.objects.create(organization=organization, contact=person, campaign=c, context={"n": n})
        for n, c in enumerate(campaigns)
    ]
    shipped = message(organization, person, transactional=True)

    results = deliver(run_worker, *marketing, shipped)

    assert [m.status for m in results] == ["sent", "sent", "suppressed", "sent"]
    assert results[2].suppression_reason == Suppression.FREQUENCY_CAP


def test_a_template_error_fails_the_message_readably_and_the_worker_goes_on(organization, run_worker):
    person = contact(organization)
    broken = message(organization, person, template="Hi {% if %}")
    fine = message(organization, person)
    failed, sent = deliver(run_worker, broken, fine)
    assert failed.status == MessageStatus.FAILED
    assert failed.error == "template error: Unexpected end of expression in if tag."
    assert sent.status == MessageStatus.SENT
    assert get_queue("messaging-delivery").failed_job_registry.count == 0


def test_a_delayed_automation_waits_for_its_delay_even_when_swept(organization, run_worker):
    from messaging.events import event_evaluate
    from messaging.queueing import messages_sweep

    person = contact(organization)
    Automation.objects.create(
        organization=organization,
        name="Review",
        trigger="order_paid",
        template="Review us?",
        delay_minutes=1440,
    )
    event = {"kind": "order_paid", "key": "order_paid:order-1", "organization_id": organization.pk,
             "contact_id": person.pk, "order": {"total": "10.00"}}  # fmt: skip
    assert event_evaluate(event) == 1
    waiting = Message.objects.get()
    assert waiting.send_after is not None and waiting.send_after > timezone.now() + timedelta(hours=23)
    Message.objects.filter(pk=waiting.pk).update(updated_at=timezone.now() - timedelta(minutes=10))

    assert messages_sweep()["requeued"] == 0  # its scheduled job is live
    run_worker("messaging-delivery")
    assert Message.objects.get().status == MessageStatus.QUEUED


def test_a_cancelled_campaigns_message_is_suppressed_at_delivery(organization, run_worker):
    campaign = Campaign.objects.create(
        organization=organization, name="Oops", template="x", status="cancelled"
    )
    late = Message.objects.create(organization=organization, contact=contact(organization), campaign=campaign)
    (suppressed,) = deliver(run_worker, late)
    assert suppressed.suppression_reason == Suppression.CAMPAIGN_CANCELLED


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ contact.name|rjust:3000000000 }}", "Invalid filter: 'rjust'"),
        ("{% lorem 2000000 w %}", "Invalid block tag on line 1: 'lorem'"),
        ("{% debug %}", "Invalid block tag on line 1: 'debug'"),
        ("{% for c in contact.name %}{{ contact.name }}{{ contact.name }}{% endfor %}" * 10, "over 1600"),
        ("{{ nothing }}", "the message is empty"),
        (NESTED_LOOPS, "its loops would run more than 10,000 times"),
        (DOUBLING, "the filter add makes a value over 10,000 long"),
    ],
)
def test_the_sandbox_refuses_what_could_exhaust_a_worker_or_leak(organization, run_worker, template, error):
    person = Contact.objects.create(organization=organization, phone="+14155550123", name="W" * 40)
    consent_record(person, ConsentState.OPTED_IN, source="test")
    (failed,) = deliver(run_worker, message(organization, person, template=template))
    assert failed.status == MessageStatus.FAILED and error in failed.error


def test_a_deferred_job_started_a_moment_early_sends_instead_of_deferring_again(organization, run_worker):
    # rq schedules by the whole second and looks every second: the job of a message due at
    # 12:00:00.7 may start at 11:59:59.9. Deferred again to the same time, it would name itself.
    due = message(organization, contact(organization), send_after=timezone.now() + timedelta(seconds=1))

    assert messages_deliver([due.pk]) == {"sent": 1}
