"""A message's claim and its lease: a message is sent once, whichever job comes to it, whether the
job before it finished, died mid-send or is still sending."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from config.queues import get_queue
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus, OutboxRecord
from tests.messaging.conftest import contact, deliver, message

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_second_job_for_a_sent_message_sends_nothing(organization, run_worker):
    (sent,) = deliver(run_worker, message(organization, contact(organization)))
    assert messages_deliver([sent.pk]) == {"done before": 1}
    assert Message.objects.get(pk=sent.pk).provider_id == sent.provider_id


def test_a_message_left_sending_by_a_dead_job_is_looked_for_before_it_is_sent_again(
    organization, run_worker, twilio
):
    sending = message(organization, contact(organization), status=MessageStatus.SENDING, body="Hi again")
    long_ago = datetime.now(tz=ZoneInfo("UTC")) - timedelta(minutes=5)  # past the job's timeout
    Message.objects.filter(pk=sending.pk).update(sent_at=long_ago, job_id="sms-gone")

    (sent,) = deliver(run_worker, sending)

    assert sent.status == MessageStatus.SENT
    assert len(twilio.posts) == 1  # Twilio had nothing from the lost attempt: sent once now
    assert len(twilio.auth) == 2  # the lookup, then the send


def test_a_message_another_job_is_sending_is_left_to_it(organization, run_worker, twilio):
    sending = message(organization, contact(organization), status=MessageStatus.SENDING, body="Hi")
    other = get_queue("messaging-delivery").enqueue(
        "messaging.jobs.deliver_messages", [sending.pk], job_id="sms-other"
    )
    Message.objects.filter(pk=sending.pk).update(sent_at=datetime.now(tz=ZoneInfo("UTC")), job_id=other.id)

    assert messages_deliver([sending.pk]) == {"in progress": 1}
    assert twilio.posts == [] and twilio.auth == []


def test_a_job_that_lost_its_claim_to_another_sends_nothing(organization, run_worker):
    from messaging.backends import LocalBackend
    from messaging.claims import message_send as _send
    from messaging.rules import rules_for

    claimed = message(organization, contact(organization), status=MessageStatus.SENDING, body="Hi")
    first_claim = timezone.now() - timedelta(minutes=5)
    Message.objects.filter(pk=claimed.pk).update(sent_at=first_claim, job_id="sms-dead")
    # Its job looked dead: another took the message over and sent it ...
    assert messages_deliver([claimed.pk]) == {"sent": 1}
    # ... and the first, alive after all (the same job run twice), comes to its send.
    claimed.sent_at = first_claim
    assert _send(claimed, LocalBackend(rules_for(organization.pk))) == "taken by another job"
    assert OutboxRecord.objects.count() == 1


def test_a_twilio_send_whose_claim_was_taken_over_is_not_made(organization, run_worker, twilio):
    from channels_app.platforms.twilio.client import TwilioBackend
    from messaging.claims import message_send as _send
    from messaging.rules import rules_for

    claimed = message(organization, contact(organization), status=MessageStatus.SENDING, body="Hi")
    first_claim = timezone.now() - timedelta(minutes=5)
    Message.objects.filter(pk=claimed.pk).update(sent_at=first_claim, job_id="sms-dead")
    assert messages_deliver([claimed.pk]) == {"sent": 1}  # looked for, then taken over and sent

    claimed.sent_at = first_claim  # the first claimer, alive after all
    assert _send(claimed, TwilioBackend(rules_for(organization.pk))) == "taken by another job"
    assert len(twilio.posts) == 1
