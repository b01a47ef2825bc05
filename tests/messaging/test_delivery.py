"""Delivering messages on real burst workers: every rule, with the local backend and with Twilio's
REST API served by a local server speaking its request and response shapes."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta
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
    OutboxRecord,
    Suppression,
)
from messaging.queueing import messages_enqueue
from tests.messaging.conftest import DOUBLING, NESTED_LOOPS, TwilioServer, contact, deliver, message, three

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


def test_a_second_job_for_a_sent_message_sends_nothing(organization, run_worker):
    (sent,) = deliver(run_worker, message(organization, contact(organization)))
    assert messages_deliver([sent.pk]) == {"done before": 1}
    assert Message.objects.get(pk=sent.pk).provider_id == sent.provider_id


def test_twilio_receives_the_message_as_its_api_expects(organization, run_worker, twilio):
    (sent,) = deliver(run_worker, message(organization, contact(organization)))

    assert sent.status == MessageStatus.SENT and sent.provider_id == "SM" + "1".zfill(32)
    assert twilio.posts == [
        {
            "To": ["+14155550123"],
            "From": ["+15005550006"],
            "Body": ["Hi Wile, #1001 shipped"],
        }
    ]
    expected = base64.b64encode(f"{TwilioServer.SID}:secret-token".encode()).decode()
    assert twilio.auth == [f"Basic {expected}"]


def test_an_organizations_own_twilio_account_wins_only_when_whole(organization, run_worker, twilio):
    # A number of its own on the platform's account would let a merchant send as anyone's number.
    MessagingSettings.objects.filter(organization=organization).update(twilio_from_number="+15005550001")
    deliver(run_worker, message(organization, contact(organization)))
    assert twilio.posts[0]["From"] == ["+15005550006"]

    rules = MessagingSettings.objects.get(organization=organization)
    rules.twilio_account_sid, rules.twilio_auth_token = TwilioServer.SID, "own-token"
    rules.save()
    from messaging import rules as delivery

    delivery._rules.clear()
    deliver(run_worker, message(organization, contact(organization, "+14155550199")))
    assert twilio.posts[1]["From"] == ["+15005550001"]
    own = base64.b64encode(f"{TwilioServer.SID}:own-token".encode()).decode()
    assert twilio.auth[-1] == f"Basic {own}"


def test_twilio_refusing_a_number_fails_the_message_with_its_reason(organization, run_worker, twilio):
    twilio.error = {
        "code": 21211,
        "message": "The 'To' number +14155550123 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    (failed,) = deliver(run_worker, message(organization, contact(organization)))
    assert failed.status == MessageStatus.FAILED
    assert (
        failed.error
        == "Twilio refused the message (21211): The 'To' number +14155550123 is not a valid phone number."
    )


def test_a_recipient_who_stopped_with_the_carrier_is_opted_out_here_too(organization, run_worker, twilio):
    twilio.error = {
        "code": 21610,
        "message": "Attempt to send to unsubscribed recipient",
        "more_info": "https://www.twilio.com/docs/errors/21610",
        "status": 400,
    }
    person = contact(organization)
    (stopped,) = deliver(run_worker, message(organization, person))
    assert (stopped.status, stopped.suppression_reason) == (MessageStatus.SUPPRESSED, Suppression.OPTED_OUT)
    person.refresh_from_db()
    assert person.consent == ConsentState.OPTED_OUT
    assert person.consent_events.first().source == "carrier"


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


def test_the_status_callback_is_given_where_the_account_is_a_channel(organization, run_worker, twilio):
    from channels_app.services import channel_create

    channel_create(
        organization_slug=organization.slug, platform="twilio", shop_identifier=TwilioServer.SID,
        webhook_secret="secret-token",
    )  # fmt: skip
    deliver(run_worker, message(organization, contact(organization)))
    assert twilio.posts[0]["StatusCallback"] == ["https://hub.example.com/webhooks/sms/twilio/status/"]


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


def test_no_twilio_account_fails_the_batch_for_good(organization, run_worker, settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""
    messages = three(organization)
    messages_enqueue([m.pk for m in messages])

    run_worker("messaging-delivery")

    failed = Message.objects.all()
    assert {(m.status, m.retryable) for m in failed} == {(MessageStatus.FAILED, False)}
    assert "Twilio needs an account SID" in failed[0].error


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


def test_a_deferred_job_started_a_moment_early_sends_instead_of_deferring_again(organization, run_worker):
    # rq schedules by the whole second and looks every second: the job of a message due at
    # 12:00:00.7 may start at 11:59:59.9. Deferred again to the same time, it would name itself.
    due = message(organization, contact(organization), send_after=timezone.now() + timedelta(seconds=1))

    assert messages_deliver([due.pk]) == {"sent": 1}


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
