"""Messaging in the admin, as a merchant uses it: campaigns checked, previewed, sent, followed
and cancelled; settings with a write-only Twilio token."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from messaging.models import Campaign, CampaignStatus, ConsentState, Contact, MessagingSettings, OutboxRecord
from tests.channels_app import factories
from tests.messaging.conftest import NESTED_LOOPS
from tests.messaging.factories import settings_without_quiet_hours

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def merchant(client):
    organization = factories.organization()
    settings_without_quiet_hours(organization)
    Contact.objects.bulk_create(
        [
            Contact(
                organization=organization,
                phone=f"+141555501{n:02d}",
                name=f"P{n}",
                consent=ConsentState.OPTED_IN,
            )
            for n in range(3)
        ]
    )
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme")
    client.force_login(User.objects.get(username="wile"))
    client.organization = organization
    return client


def add_campaign(client, template):
    return client.post(
        reverse("admin:messaging_campaign_add"),
        {"organization": client.organization.pk, "name": "Sale", "audience": "{}", "template": template},
        follow=True,
    )


def test_a_template_over_the_render_budget_is_refused_on_save_at_once(merchant):
    page = add_campaign(merchant, NESTED_LOOPS).content.decode()
    assert "its loops would run more than 10,000 times" in page
    assert not Campaign.objects.exists()


def test_a_campaign_is_checked_previewed_sent_and_followed_to_its_end(merchant, run_worker):
    page = add_campaign(merchant, "Hi {% if %}").content.decode()
    assert "template error: Unexpected end of expression in if tag." in page
    assert not Campaign.objects.exists()

    add_campaign(merchant, "Hi {{ contact.name }}, 20% off")
    campaign = Campaign.objects.get()
    page = merchant.get(reverse("admin:messaging_campaign_change", args=[campaign.pk])).content.decode()
    assert "Hi Wile E. Coyote, 20% off" in page  # the preview, with sample data

    page = merchant.post(
        reverse("admin:messaging_campaign_changelist"),
        {"action": "send_now", "_selected_action": [campaign.pk], "post": "yes"},  # confirmed
        follow=True,
    ).content.decode()
    assert "1 campaign sending." in page
    assert 'data-running="true"' in page  # its cells update in place while it sends
    run_worker("messaging-campaigns")  # fanned out: its messages are made, not sent yet

    page = merchant.get(reverse("admin:messaging_campaign_changelist")).content.decode()
    assert "value='0'" in page and "0 of 3 done" in page and "3 queued" in page
    assert 'data-running="true"' in page  # still going
    run_worker("messaging-bulk")

    page = merchant.get(reverse("admin:messaging_campaign_changelist")).content.decode()
    assert "value='100'" in page and "3 of 3 done" in page and "3 sent" in page
    assert 'data-running="false"' in page  # done: the page stays still
    assert OutboxRecord.objects.count() == 3


def test_cancel_suppresses_what_was_not_sent(merchant, run_worker):
    add_campaign(merchant, "Oops")
    campaign = Campaign.objects.get()
    url = reverse("admin:messaging_campaign_changelist")
    merchant.post(url, {"action": "send_now", "_selected_action": [campaign.pk], "post": "yes"})
    run_worker("messaging-campaigns")

    page = merchant.post(
        url, {"action": "cancel", "_selected_action": [campaign.pk]}, follow=True
    ).content.decode()

    assert "Cancelled; 3 messages not sent." in page
    assert Campaign.objects.get().status == CampaignStatus.CANCELLED


def test_the_twilio_token_is_written_never_shown_and_blank_keeps_it(merchant):
    settings_row = MessagingSettings.objects.get()
    url = reverse("admin:messaging_messagingsettings_change", args=[settings_row.pk])
    data = {
        "organization": merchant.organization.pk,
        "time_zone": "UTC",
        "quiet_start": "21:00",
        "quiet_end": "08:00",
        "cap_messages": 3,
        "cap_hours": 24,
        "help_text": "Reply STOP to unsubscribe.",
        "twilio_account_sid": "AC123",
        "twilio_auth_token": "tok-secret",
        "twilio_from_number": "+15005550006",
        "rate_limit": 100,  # read-only for a merchant: ignored
    }
    assert merchant.post(url, data).status_code == 302
    assert "tok-secret" not in merchant.get(url).content.decode()
    assert merchant.post(url, {**data, "twilio_auth_token": ""}).status_code == 302
    settings_row.refresh_from_db()
    assert settings_row.twilio_auth_token == "tok-secret" and settings_row.rate_limit == 1.0
