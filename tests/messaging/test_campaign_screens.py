"""Campaigns a merchant can trust: audiences checked on save, the audience's size on the page, the
preview's segments, and "Send now" only after a confirmation with recipients, segments and cost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from html import unescape
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from config.queues import get_queue
from messaging.campaigns import campaign_fan_out
from messaging.models import Campaign, CampaignStatus, ConsentState, Contact, Message, MessagingSettings
from tests.channels_app import factories
from tests.messaging.factories import settings_without_quiet_hours

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "admin:messaging_campaign_changelist"


@pytest.fixture
def merchant(client):
    """Wile of Acme, whose contacts are three opted in, one opted out and one never asked."""
    organization = factories.organization()
    settings_without_quiet_hours(organization)
    states = [ConsentState.OPTED_IN] * 3 + [ConsentState.OPTED_OUT, ConsentState.UNKNOWN]
    Contact.objects.bulk_create(
        [
            Contact(
                organization=organization,
                phone=f"+141555501{n:02d}",
                name=f"P{n}",
                consent=state,
                time_zone="Europe/Paris" if n == 0 else "",
            )
            for n, state in enumerate(states)
        ]
    )
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme", stdout=StringIO())
    client.force_login(User.objects.get(username="wile"))
    client.organization = organization
    return client


def page(response) -> str:
    """The page as a person reads it: entities decoded, runs of white space as one."""
    return " ".join(unescape(response.content.decode()).split())


def add_campaign(client, audience, template="Hi {{ contact.name }}, 20% off"):
    data = {
        "organization": client.organization.pk,
        "name": "Sale",
        "audience": audience,
        "template": template,
    }
    return page(client.post(reverse("admin:messaging_campaign_add"), data, follow=True))


def act(client, action, campaign, **extra):
    data = {"action": action, "_selected_action": [campaign.pk], **extra}
    return page(client.post(reverse(CHANGELIST), data, follow=True))


ALLOWED = "the filters allowed are consent, created_at__gte, created_at__lt, name__icontains, time_zone."


@pytest.mark.parametrize(
    ("audience", "said"),
    [
        ('{"time_zone": "Europe/Pariss"}', "time_zone 'Europe/Pariss' is not an IANA time zone"),
        ('{"city": "Paris"}', f"unknown audience filter city: {ALLOWED}"),
        (
            '["x"]',
            f"The audience is a JSON object of filters ({{}} for every contact), not a list; {ALLOWED}",
        ),
        ('"everyone"', "not a text"),
        ('{"consent": "maybe"}', "consent 'maybe' is not one of unknown, opted_in, opted_out"),
        ('{"created_at__gte": "last week"}', "created_at__gte 'last week' is not a date (2026-11-01)"),
        ('{"name__icontains": 3}', "name__icontains 3 is not a text"),
    ],
)
def test_a_bad_audience_is_refused_on_save_naming_what_is_wrong(merchant, audience, said):
    assert said in add_campaign(merchant, audience)
    assert not Campaign.objects.exists()


def test_the_model_refuses_a_bad_audience_whatever_form_saves_it(merchant):
    campaign = Campaign(organization=merchant.organization, name="x", template="hi", audience={"city": "x"})
    with pytest.raises(ValidationError, match="unknown audience filter"):
        campaign.full_clean()
    campaign.audience = {"time_zone": "Europe/Paris", "created_at__gte": "2026-11-01", "consent": "opted_in"}
    campaign.full_clean()


def test_the_change_page_says_how_many_the_saved_audience_reaches(merchant):
    add_campaign(merchant, "{}")
    campaign = Campaign.objects.get()
    url = reverse("admin:messaging_campaign_change", args=[campaign.pk])
    body = page(merchant.get(url))
    assert (
        "3 recipients (of 5 matching contacts; 2 not opted in, 1 of them opted out, are suppressed)" in body
    )

    Campaign.objects.filter(pk=campaign.pk).update(audience={"time_zone": "Europe/Paris"})
    assert "1 recipient</div>" in page(merchant.get(url))
    Campaign.objects.filter(pk=campaign.pk).update(audience={"created_at__gte": "2999-01-01"})
    assert "0 recipients</div>" in page(merchant.get(url))


def test_the_preview_counts_characters_encoding_and_segments(merchant):
    add_campaign(merchant, "{}", template="{{ contact.name }} " + "x" * 188)  # "Wile E. Coyote " + 188
    url = reverse("admin:messaging_campaign_change", args=[Campaign.objects.get().pk])
    assert "203 characters, encoding GSM-7, 2 segments" in page(merchant.get(url))

    Campaign.objects.update(template="Hi {{ contact.name }} 🎉")
    assert "19 characters, encoding UCS-2, 1 segment" in page(merchant.get(url))


def test_send_now_asks_first_with_recipients_segments_and_cost_then_sends(merchant):
    add_campaign(merchant, "{}", template="{{ contact.name }} " + "x" * 188)  # two segments
    campaign = Campaign.objects.get()

    body = act(merchant, "send_now", campaign)

    assert "Send these campaigns now?" in body
    assert "3 recipients (of 5 matching contacts" in body
    assert "203 characters, encoding GSM-7, 2 segments" in body
    # 3 recipients x 2 segments at the hub's default price, USD 0.0083 a segment.
    assert (
        "In all: <strong>3</strong> recipients, <strong>6</strong> segments, about <strong>0.0498 USD" in body
    )
    assert 'name="post" value="yes"' in body
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT  # nothing happens before the confirmation
    assert get_queue("messaging-campaigns").count == 0

    body = act(merchant, "send_now", campaign, post="yes")

    assert "1 campaign sending." in body
    assert Campaign.objects.get().status == CampaignStatus.SCHEDULED
    assert get_queue("messaging-campaigns").get_job_ids() == [f"campaign-{campaign.pk}"]


def test_the_estimate_uses_the_organizations_own_price_and_currency(merchant, settings):
    settings.MESSAGING_SEGMENT_PRICE = "0.01"
    add_campaign(merchant, "{}", template="Sale today")
    campaign = Campaign.objects.get()
    assert "about <strong>0.03 USD" in act(merchant, "send_now", campaign)

    MessagingSettings.objects.update(segment_price=Decimal("0.045"), segment_currency="EUR")
    assert "about <strong>0.135 EUR" in act(merchant, "send_now", campaign)


def test_a_campaign_nobody_would_receive_is_not_sent(merchant):
    add_campaign(merchant, '{"consent": "opted_out"}')
    campaign = Campaign.objects.get()

    body = act(merchant, "send_now", campaign)
    assert "Not sent: nobody would receive it: 0 recipients (of 1 matching contacts" in body
    assert 'name="post"' not in body and "Nothing can be sent." in body

    body = act(merchant, "send_now", campaign, post="yes")  # posted anyway: refused all the same
    assert "Sale: nobody would receive it: its audience has 1 contact, not opted in" in body
    assert "0 campaigns sending." in body
    assert Campaign.objects.get().status == CampaignStatus.DRAFT


def test_an_audience_saved_before_it_was_checked_is_named_not_sent(merchant):
    # A row saved by an older version (or a script), never through the form.
    campaign = Campaign.objects.create(
        organization=merchant.organization,
        name="Typo",
        template="Hi",
        audience={"time_zone": "Europe/Pariss"},
    )
    body = act(merchant, "send_now", campaign)
    assert "Not sent: time_zone 'Europe/Pariss' is not an IANA time zone" in body
    assert Campaign.objects.get().status == CampaignStatus.DRAFT


def test_the_command_refuses_a_bad_audience_and_a_send_to_nobody(merchant):
    def send(audience):
        call_command(
            "send_campaign", "--org", "acme", "--name", "x", "--template", "hi", "--audience", audience
        )

    with pytest.raises(CommandError, match="time_zone 'Europe/Pariss' is not an IANA time zone"):
        send('{"time_zone": "Europe/Pariss"}')
    with pytest.raises(CommandError, match="nobody would receive it: its audience has 0 contact"):
        send('{"time_zone": "Asia/Tokyo"}')
    assert not Campaign.objects.exists()


def test_a_scheduled_campaign_whose_audience_emptied_says_it_went_to_no_one(merchant):
    add_campaign(merchant, '{"time_zone": "Europe/Paris"}')
    campaign = Campaign.objects.get()
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() + timedelta(hours=1))
    body = act(merchant, "schedule", campaign)
    assert "Schedule these campaigns?" in body and "1 recipient" in body
    assert "1 campaign scheduled." in act(merchant, "schedule", campaign, post="yes")
    Contact.objects.filter(time_zone="Europe/Paris").update(time_zone="Europe/Berlin")  # moved away

    assert campaign_fan_out(campaign.pk) == {"messages": 0}  # its job, at its time

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and not Message.objects.exists()
    assert "sent to 0 contacts: its audience matched no one" in page(merchant.get(reverse(CHANGELIST)))


def test_the_confirmation_names_what_cannot_go_and_offers_the_rest(merchant):
    add_campaign(merchant, "{}")
    add_campaign(merchant, "{}")
    first, second = Campaign.objects.order_by("pk")
    Campaign.objects.filter(pk=second.pk).update(status=CampaignStatus.SENT)
    data = {"action": "send_now", "_selected_action": [first.pk, second.pk]}

    body = page(merchant.post(reverse(CHANGELIST), data))

    assert "Not sent: it is sent already" in body
    assert body.count('name="_selected_action"') == 1
    assert f'name="_selected_action" value="{first.pk}"' in body


def test_another_organizations_campaign_is_not_on_the_confirmation(merchant):
    globex = factories.organization("globex")
    theirs = Campaign.objects.create(organization=globex, name="Globex secret sale", template="x")

    body = act(merchant, "send_now", theirs)

    assert "Globex secret sale" not in body
    assert Campaign.objects.get(pk=theirs.pk).status == CampaignStatus.DRAFT
