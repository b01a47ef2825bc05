"""Delivering through Twilio's REST API, served by a local server speaking its request and response
shapes: what it receives, whose account sends, and what its refusals mean here."""

from __future__ import annotations

import base64

import pytest

from messaging.models import ConsentState, Message, MessageStatus, MessagingSettings, Suppression
from messaging.queueing import messages_enqueue
from tests.messaging.conftest import TwilioServer, contact, deliver, message, three

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_the_status_callback_is_given_where_the_account_is_a_channel(organization, run_worker, twilio):
    from channels_app.services import channel_create

    channel_create(
        organization_slug=organization.slug, platform="twilio", shop_identifier=TwilioServer.SID,
        webhook_secret="secret-token",
    )  # fmt: skip
    deliver(run_worker, message(organization, contact(organization)))
    assert twilio.posts[0]["StatusCallback"] == ["https://hub.example.com/webhooks/sms/twilio/status/"]


def test_no_twilio_account_fails_the_batch_for_good(organization, run_worker, settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""
    messages = three(organization)
    messages_enqueue([m.pk for m in messages])

    run_worker("messaging-delivery")

    failed = Message.objects.all()
    assert {(m.status, m.retryable) for m in failed} == {(MessageStatus.FAILED, False)}
    assert "Twilio needs an account SID" in failed[0].error
