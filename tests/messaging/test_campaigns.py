"""Campaigns: the audience fanned out in batches, one message per contact, each decision recorded;
scripted as a merchant would (send_campaign, campaign_report)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from config.queues import get_queue
from messaging.campaigns import campaign_cancel
from messaging.consent import consent_record, keyword
from messaging.models import (
    Campaign,
    CampaignStatus,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    OutboxRecord,
)

pytestmark = pytest.mark.django_db(transaction=True)
QUEUES = ("messaging-campaigns", "messaging-bulk")


def people(organization, n, consent=ConsentState.OPTED_IN, start=0):
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                organization=organization,
                phone=f"+1415555{start + i:04d}",
                name=f"P{start + i}",
                consent=consent,
            )
            for i in range(n)
        ]
    )
    return contacts


def send(*args):
    out = StringIO()
    call_command("send_campaign", "--org", "acme", *args, stdout=out)
    return int(out.getvalue().strip())


def report(campaign_id):
    out = StringIO()
    call_command("campaign_report", str(campaign_id), "--json", stdout=out)
    return json.loads(out.getvalue())


def test_stop_in_any_form_then_a_campaign_suppresses_those_contacts_with_the_reason(organization, run_worker):
    people(organization, 5)
    stoppers = people(organization, 3, start=100)
    for contact, text in zip(stoppers, ["stop", " Unsubscribe ", "QUIT"], strict=True):
        assert keyword(text) == "stop"  # as the inbound handler reads it
        consent_record(contact, ConsentState.OPTED_OUT, source="inbound SMS", text=text)
    people(organization, 2, consent=ConsentState.UNKNOWN, start=200)

    campaign_id = send("--name", "Black Friday", "--template", "Hi {{ contact.name }}: 20% off")
    run_worker(*QUEUES)

    assert report(campaign_id) == {
        "campaign": campaign_id,
        "name": "Black Friday",
        "status": "sent",
        "audience": 10,
        "messages": 10,
        "by_status": {"sent": 5, "suppressed": 5},
        "suppressed_by_reason": {"no_consent": 2, "opted_out": 3},
    }
    assert sorted(OutboxRecord.objects.values_list("body", flat=True))[0] == "Hi P0: 20% off"
    assert not OutboxRecord.objects.filter(to__in=[c.phone for c in stoppers]).exists()


def test_a_campaign_at_a_time_waits_for_it_and_a_cancelled_one_sends_nothing(organization, run_worker):
    people(organization, 3)
    at = timezone.now() + timedelta(hours=2)
    campaign_id = send("--name", "Later", "--template", "Soon", "--at", at.isoformat())
    assert Campaign.objects.get(pk=campaign_id).status == CampaignStatus.SCHEDULED
    assert get_queue("messaging-campaigns").scheduled_job_registry.get_job_ids() == [
        f"campaign-{campaign_id}"
    ]

    campaign_cancel(Campaign.objects.get(pk=campaign_id))
    from messaging.campaigns import campaign_fan_out

    assert campaign_fan_out(campaign_id) == {"skipped": 1}  # its job, at its time, finds it cancelled
    assert not Message.objects.exists()


def test_cancelling_midway_suppresses_what_was_not_sent(organization, run_worker):
    people(organization, 4)
    campaign_id = send("--name", "Oops", "--template", "Wrong price")
    run_worker("messaging-campaigns")  # fanned out; no delivery yet

    assert campaign_cancel(Campaign.objects.get(pk=campaign_id)) == 4
    run_worker("messaging-bulk")

    assert report(campaign_id)["suppressed_by_reason"] == {"campaign_cancelled": 4}
    assert not OutboxRecord.objects.exists()


def test_a_retried_fan_out_adds_no_second_message(organization, run_worker):
    people(organization, 1200)  # two batches
    campaign_id = send("--name", "Big", "--template", "Hello")
    from messaging.campaigns import campaign_fan_out

    run_worker("messaging-campaigns")
    Campaign.objects.filter(pk=campaign_id).update(status=CampaignStatus.SCHEDULED, resume_after=0)
    campaign_fan_out(campaign_id)  # as if the job ran again from the start

    assert Message.objects.filter(campaign_id=campaign_id).count() == 1200
    run_worker("messaging-bulk")
    assert OutboxRecord.objects.count() == 1200
    assert OutboxRecord.objects.values("message").distinct().count() == 1200


def test_bad_input_is_refused_before_anything_is_created(organization):
    with pytest.raises(CommandError, match="template error"):
        send("--name", "x", "--template", "{% if %}")
    with pytest.raises(CommandError, match="unknown audience filter"):
        send("--name", "x", "--template", "hi", "--audience", '{"phone__startswith": "+1"}')
    with pytest.raises(CommandError, match="needs its offset"):
        send("--name", "x", "--template", "hi", "--at", "2026-12-01T09:00:00")
    assert not Campaign.objects.exists()
    assert MessageStatus.SENT == "sent"


def test_deliveries_go_in_batches_behind_the_message_one_person_is_waiting_for(organization, run_worker):
    from messaging.queueing import messages_enqueue

    people(organization, 250)
    people(organization, 10, consent=ConsentState.UNKNOWN, start=500)
    campaign_id = send("--name", "Sale", "--template", "Sale!")
    run_worker("messaging-campaigns")
    # Those without consent are suppressed as the audience is made; the rest in jobs of a hundred.
    assert Message.objects.filter(suppression_reason="no_consent").count() == 10
    assert get_queue("messaging-bulk").count == 3
    shipped = Message.objects.create(
        organization=organization,
        contact=Contact.objects.first(),
        transactional=True,
        keyword_reply=True,
        body="Your order shipped",
    )
    messages_enqueue([shipped.pk])

    run_worker("messaging-delivery", "messaging-bulk")  # as the workers list them

    assert OutboxRecord.objects.order_by("pk").first().message_id == shipped.pk
    assert report(campaign_id)["by_status"] == {"sent": 250, "suppressed": 10}
