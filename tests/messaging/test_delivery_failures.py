"""A provider that fails, rate-limits or cannot be asked: what went stays sent, what may have gone is
looked for, and the rest is handed over for later."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from config.queues import get_queue
from messaging.models import Message, MessageStatus
from messaging.queueing import messages_enqueue
from tests.messaging.conftest import contact, message, three

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_provider_failing_midway_keeps_what_went_and_looks_for_the_one_that_may_have(
    organization, run_worker, twilio, settings
):
    settings.HUB_JOB_RETRY_INTERVALS = [0]
    twilio.troubles = {2: (500, {})}
    first, second, third = three(organization)
    messages_enqueue([first.pk, second.pk, third.pk])

    run_worker("messaging-delivery")
    states = [Message.objects.get(pk=m.pk).status for m in (first, second, third)]
    # The second may have reached Twilio: SENDING, to be looked for; the third was never tried.
    assert states == [MessageStatus.SENT, MessageStatus.SENDING, MessageStatus.QUEUED]
    (later,) = get_queue("messaging-delivery").scheduled_job_registry.get_job_ids()
    assert later.startswith(f"sms-{second.pk}_2-")

    run_worker("messaging-delivery")  # the hand-over, due now (interval 0)
    assert {m.status for m in Message.objects.all()} == {MessageStatus.SENT}
    assert len(twilio.posts) == 4  # the first, the refused second, the second again, the third
    assert len(twilio.auth) - len(twilio.posts) == 1  # one lookup: for the second only
    assert get_queue("messaging-delivery").failed_job_registry.count == 0


def test_a_rate_limited_send_hands_the_rest_over_for_later_without_a_lookup(organization, run_worker, twilio):
    twilio.troubles = {2: (429, {"Retry-After": "1"})}
    first, second, third = three(organization)
    messages_enqueue([first.pk, second.pk, third.pk])

    started = time.time()
    run_worker("messaging-delivery")
    states = [Message.objects.get(pk=m.pk).status for m in (first, second, third)]
    assert states == [MessageStatus.SENT, MessageStatus.QUEUED, MessageStatus.QUEUED]  # a 429 sent nothing
    (later,) = get_queue("messaging-delivery").scheduled_job_registry.get_job_ids()
    due = int(later.rsplit("-", 1)[1])
    # Retry-After: 1, counted from the answer (a loaded machine may take a while to get here).
    assert later == f"sms-{second.pk}_2-{due}" and started < due <= time.time() + 2

    time.sleep(max(0.0, due - time.time()) + 0.1)
    run_worker("messaging-delivery")
    assert {m.status for m in Message.objects.all()} == {MessageStatus.SENT}
    assert len(twilio.auth) == len(twilio.posts) == 4  # no lookup


def test_a_provider_down_past_the_retries_fails_them_and_the_hourly_retry_sends_each_once(
    organization, run_worker, twilio, settings
):
    from messaging.housekeeping import failures_retry

    settings.HUB_JOB_RETRY_INTERVALS = []
    twilio.troubles = {1: (500, {})}
    first, second, _ = three(organization)
    messages_enqueue([m.pk for m in Message.objects.all()])

    run_worker("messaging-delivery")
    failed = Message.objects.order_by("pk")
    assert [(m.status, m.retryable, m.sent_at is not None) for m in failed] == [
        (MessageStatus.FAILED, True, True),  # may have gone
        (MessageStatus.FAILED, True, False),  # never tried
        (MessageStatus.FAILED, True, False),
    ]
    # The hourly retry, a while later (the one that may have gone is past its claim's lease).
    Message.objects.exclude(sent_at=None).update(sent_at=timezone.now() - timedelta(minutes=10))
    assert failures_retry(older_than=0) == 3
    assert Message.objects.get(pk=first.pk).status == MessageStatus.SENDING  # looked for first
    assert Message.objects.get(pk=second.pk).status == MessageStatus.QUEUED

    run_worker("messaging-delivery")
    assert {m.status for m in Message.objects.all()} == {MessageStatus.SENT}
    assert len(twilio.posts) == 4 and len(twilio.auth) == 5  # the refused one, one lookup, three sends


def test_a_lookup_that_fails_hands_the_message_over_still_searching_from_its_lost_attempt(
    organization, run_worker, twilio, settings
):
    settings.HUB_JOB_RETRY_INTERVALS = [0]
    lost = message(organization, contact(organization), status=MessageStatus.SENDING, body="Hi")
    attempted = timezone.now() - timedelta(minutes=10)
    Message.objects.filter(pk=lost.pk).update(sent_at=attempted, job_id="sms-dead")
    twilio.lookups_down = 4  # every try of the first lookup
    messages_enqueue([lost.pk])  # as the sweep does for a dead job's message

    run_worker("messaging-delivery")
    lost.refresh_from_db()
    assert (lost.status, lost.sent_at) == (MessageStatus.SENDING, attempted)
    assert twilio.posts == [] and len(twilio.auth) == 4  # the lookup, tried 4 times

    run_worker("messaging-delivery")  # the hand-over: looks again, from the lost attempt, then sends
    assert Message.objects.get().status == MessageStatus.SENT and len(twilio.posts) == 1
