"""Batches of messages: a job out of time hands the rest on, the sweep requeues a dead batch in
batches, and a cancel mid-batch withdraws what is not sent yet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.queues import get_queue
from messaging.models import (
    Campaign,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    OutboxRecord,
    Suppression,
)
from messaging.queueing import messages_enqueue
from tests.messaging.conftest import contact, three

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_out_of_time_hands_the_rest_to_a_new_job_after_sending_at_least_one(
    organization, run_worker, monkeypatch
):
    from messaging import delivery

    monkeypatch.setattr(delivery, "BUDGET", 0)
    messages = three(organization)
    messages_enqueue([m.pk for m in messages])
    for sent in range(1, 4):
        run_worker("messaging-delivery")
        assert Message.objects.filter(status=MessageStatus.SENT).count() == sent
        assert not Message.objects.filter(status=MessageStatus.SENDING).exists()
    assert OutboxRecord.objects.count() == 3


def test_the_sweep_asks_once_per_job_and_requeues_a_dead_batch_in_batches(organization):
    from messaging.queueing import messages_sweep

    campaign = Campaign.objects.create(organization=organization, name="Sale", template="Sale!")
    people = Contact.objects.bulk_create(
        Contact(organization=organization, phone=f"+1415555{n:04d}", consent=ConsentState.OPTED_IN)
        for n in range(150)
    )
    Message.objects.bulk_create(
        Message(organization=organization, contact=person, campaign=campaign, job_id="sms-1_150")
        for person in people
    )
    Message.objects.update(updated_at=timezone.now() - timedelta(minutes=10))

    assert messages_sweep() == {"requeued": 150, "live": 0}
    ids = sorted(Message.objects.values_list("pk", flat=True))
    assert sorted(get_queue("messaging-bulk").get_job_ids()) == sorted(
        [f"sms-{ids[0]}_100", f"sms-{ids[100]}_50"]
    )
    assert messages_sweep(older_than=0) == {"requeued": 0, "live": 150}  # their jobs are queued


def test_a_cancel_during_a_batchs_sends_withdraws_what_it_has_not_sent(
    organization, run_worker, twilio, monkeypatch
):
    from messaging import delivery

    monkeypatch.setattr(delivery, "RECHECK", 0)  # look before every send
    campaign = Campaign.objects.create(
        organization=organization, name="Sale", template="Sale!", status="sending"
    )
    people = [contact(organization, phone=f"+1415555012{n}") for n in range(3)]
    batch = [Message.objects.create(organization=organization, contact=p, campaign=campaign) for p in people]

    def cancel(number):  # the merchant cancels while Twilio takes the first message
        from django.db import connection

        Campaign.objects.filter(pk=campaign.pk).update(status="cancelled")
        connection.close()  # the server thread's own

    twilio.on_post = cancel
    messages_enqueue([m.pk for m in batch], bulk=True)

    run_worker("messaging-bulk")

    assert len(twilio.posts) == 1
    assert [(m.status, m.suppression_reason) for m in Message.objects.order_by("pk")] == [
        (MessageStatus.SENT, ""),
        (MessageStatus.SUPPRESSED, Suppression.CAMPAIGN_CANCELLED),
        (MessageStatus.SUPPRESSED, Suppression.CAMPAIGN_CANCELLED),
    ]
