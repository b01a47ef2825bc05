"""Twilio's status callbacks and inbound messages at /webhooks/sms/twilio/…: signed, stored as
webhook events, processed on messaging-events; STOP opts out at once with one confirmation."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from channels_app.models import EventStatus, ProcessedWebhookEvent
from messaging.models import (
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    OutboxRecord,
    Suppression,
)
from tests.channels_app import factories
from tests.messaging import factories as messaging
from tests.platforms import fixture_json, post_twilio, twilio_signature

pytestmark = pytest.mark.django_db(transaction=True)
SID = "AC" + "1" * 32
TOKEN = "twilio-auth-token"
BASE = "https://hub.example.com"


@pytest.fixture
def account(settings):
    settings.WEBHOOK_BASE_URL = BASE
    channel = factories.twilio_channel(shop_identifier=SID, webhook_secret=TOKEN)
    messaging.settings_without_quiet_hours(channel.organization)
    return channel


def post(client, kind, form, *, token=TOKEN):
    return post_twilio(client, None, kind, form, auth_token=token)


def inbound(body, sender="+14155550123", sid="SM1"):
    recorded = fixture_json("twilio/inbound_sms_stop.json")["params"]
    return {**recorded, "AccountSid": SID, "From": sender, "Body": body, "MessageSid": sid, "SmsSid": sid}


@pytest.mark.parametrize(
    "text", ["stop", " STOP ", "Unsubscribe", "cancel", "END", "quit", "revoke", "OPTOUT", "stopall"]
)
def test_a_stop_in_any_form_opts_out_at_once_and_gets_one_confirmation(client, account, run_worker, text):
    contact = messaging.contact(account.organization)
    from messaging.consent import consent_record

    consent_record(contact, ConsentState.OPTED_IN, source="checkout")
    response = post(client, "inbound", inbound(text))
    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    assert b"<Response></Response>" in response.content
    assert post(client, "inbound", inbound(text)).status_code == 200  # Twilio's retry: a duplicate
    run_worker("messaging-events", "messaging-delivery")

    contact.refresh_from_db()
    assert contact.consent == ConsentState.OPTED_OUT
    assert contact.consent_events.first().text == text  # the exact inbound text
    assert list(OutboxRecord.objects.values_list("body", flat=True)) == [
        "You are unsubscribed and will receive no more messages. Reply START to subscribe again."
    ]
    event = ProcessedWebhookEvent.objects.get()
    assert (event.source, event.topic, event.status, event.duplicate_count) == (
        "twilio",
        "sms/inbound",
        "COMPLETED",
        1,
    )


def test_stop_then_a_campaign_is_suppressed_and_start_brings_them_back(client, account, run_worker):
    post(client, "inbound", inbound("STOP", sid="SM1"))
    run_worker("messaging-events", "messaging-delivery")
    campaign = messaging.campaign(account.organization, status="sending")
    contact = Contact.objects.get()
    suppressed = Message.objects.create(organization=account.organization, contact=contact, campaign=campaign)
    from messaging.delivery import messages_deliver

    assert messages_deliver([suppressed.pk]) == {f"suppressed: {Suppression.OPTED_OUT}": 1}

    post(client, "inbound", inbound("start", sid="SM2"))
    post(client, "inbound", inbound("HELP", sid="SM3"))
    post(client, "inbound", inbound("what time do you open?", sid="SM4"))
    run_worker("messaging-events", "messaging-delivery")

    contact.refresh_from_db()
    assert contact.consent == ConsentState.OPTED_IN
    replies = list(OutboxRecord.objects.order_by("pk").values_list("body", flat=True))
    assert replies[1:] == [
        "You are subscribed again. Reply STOP to unsubscribe, HELP for help.",
        "Reply STOP to unsubscribe. Msg & data rates may apply.",
    ]
    assert ProcessedWebhookEvent.objects.get(event_key="SM4").ignored_reason == "not a keyword"


def test_status_callbacks_move_a_message_forward_only(client, account, run_worker):
    contact = messaging.contact(account.organization)
    message = Message.objects.create(
        organization=account.organization,
        contact=contact,
        status=MessageStatus.SENT,
        provider_id="SM9",
        body="x",
    )
    form = {
        "AccountSid": SID,
        "MessageSid": "SM9",
        "SmsSid": "SM9",
        "To": contact.phone,
        "ApiVersion": "2010-04-01",
    }
    assert (
        post(client, "status", {**form, "MessageStatus": "delivered", "SmsStatus": "delivered"}).status_code
        == 200
    )
    assert (
        post(client, "status", {**form, "MessageStatus": "sent", "SmsStatus": "sent"}).status_code == 200
    )  # late
    run_worker("messaging-events")

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED and message.delivered_at is not None
    late = ProcessedWebhookEvent.objects.get(event_key="SM9:sent")
    assert late.status == EventStatus.IGNORED and late.ignored_reason.startswith("stale")


def test_an_undelivered_callback_keeps_twilios_error(client, account, run_worker):
    contact = messaging.contact(account.organization)
    message = Message.objects.create(
        organization=account.organization,
        contact=contact,
        status=MessageStatus.SENT,
        provider_id="SM8",
        body="x",
    )
    form = {"AccountSid": SID, "MessageSid": "SM8", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    post(client, "status", form)
    run_worker("messaging-events")
    message.refresh_from_db()
    assert (message.status, message.error) == (MessageStatus.UNDELIVERED, "Twilio error 30003")


def test_a_bad_signature_or_unknown_account_is_refused_and_nothing_is_stored(client, account):
    assert post(client, "inbound", inbound("STOP"), token="wrong").status_code == 401
    assert post(client, "inbound", {**inbound("STOP"), "AccountSid": "AC" + "9" * 32}).status_code == 401
    form = inbound("STOP")
    path = "/webhooks/sms/twilio/inbound/"
    header = twilio_signature(TOKEN, BASE + path, list(form.items()))
    tampered = {**form, "Body": "START"}
    response = client.post(
        path,
        urlencode(tampered),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=header,
    )
    assert response.status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()
    assert (
        client.post(
            "/webhooks/sms/nexmo/inbound/", "x=1", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 404
    )
