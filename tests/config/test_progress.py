"""Run and campaign lists update their progress cells in place: each run admin answers the cells
of the rows on a page as JSON, only for what the user may see, and says whether any is running."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from channels_app.models import Organization
from messaging.models import Campaign, CampaignStatus, ConsentState, Contact, Message, MessageStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return Organization.objects.create(name="Acme", slug="acme")


@pytest.fixture
def merchant(client, acme):
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme")
    client.force_login(User.objects.get(username="wile"))
    return client


def campaign(organization, status, *, messages=(), **fields):
    made = Campaign.objects.create(
        organization=organization, name=f"{status} sale", template="Hi", status=status, **fields
    )
    for n, (message_status, send_after) in enumerate(messages):
        contact = Contact.objects.create(
            organization=organization, phone=f"+1415555{made.pk:02d}{n:02d}", consent=ConsentState.OPTED_IN
        )
        Message.objects.create(
            organization=organization,
            contact=contact,
            campaign=made,
            status=message_status,
            send_after=send_after,
        )
    return made


def live(client, *campaigns):
    url = reverse("admin:messaging_campaign_live")
    return client.get(url, {"id": [c.pk for c in campaigns]}, HTTP_ACCEPT="application/json")


def test_a_sending_campaigns_cells_come_as_json_and_say_it_is_running(merchant, acme):
    sending = campaign(
        acme,
        CampaignStatus.SENDING,
        audience_total=2,
        materialized=2,
        messages=[(MessageStatus.SENT, None), (MessageStatus.QUEUED, None)],
    )
    answer = live(merchant, sending).json()
    assert answer["running"] is True
    cells = answer["rows"][str(sending.pk)]
    assert cells["status"] == "Sending"
    assert "value='50'" in cells["progress"] and "1 of 2 done" in cells["progress"]
    assert cells["report"] == "1 queued, 1 sent"
    assert "name" not in cells  # the link to the campaign keeps the page's own markup


def test_a_campaign_only_scheduled_or_waiting_out_quiet_hours_is_not_running(merchant, acme):
    scheduled = campaign(acme, CampaignStatus.SCHEDULED, scheduled_at=timezone.now() + timedelta(days=7))
    deferred = campaign(
        acme,
        CampaignStatus.SENT,
        audience_total=1,
        materialized=1,
        messages=[(MessageStatus.QUEUED, timezone.now() + timedelta(hours=8))],
    )
    assert live(merchant, scheduled, deferred).json()["running"] is False
    page = merchant.get(reverse("admin:messaging_campaign_changelist")).content.decode()
    assert 'data-running="false"' in page and "hub/live_progress.js" in page
    page = merchant.get(reverse("admin:messaging_campaign_change", args=[scheduled.pk])).content.decode()
    assert 'data-running="false"' in page


def test_the_list_is_live_only_while_a_campaign_on_its_page_sends(merchant, acme):
    sending = campaign(acme, CampaignStatus.SENDING, audience_total=1)
    page = merchant.get(reverse("admin:messaging_campaign_changelist")).content.decode()
    assert 'data-running="true"' in page
    # Filtered to the drafts, the sending campaign is not on the page: nothing to watch.
    page = merchant.get(reverse("admin:messaging_campaign_changelist") + "?status__exact=draft").content
    assert b'data-running="false"' in page
    page = merchant.get(reverse("admin:messaging_campaign_change", args=[sending.pk])).content.decode()
    assert 'data-running="true"' in page and f'data-object="{sending.pk}"' in page


def test_another_organizations_rows_are_not_answered(merchant, acme):
    other = Organization.objects.create(name="Other", slug="other")
    theirs = campaign(other, CampaignStatus.SENDING, audience_total=1)
    ours = campaign(acme, CampaignStatus.DRAFT)
    answer = live(merchant, theirs, ours).json()
    assert list(answer["rows"]) == [str(ours.pk)] and answer["running"] is False


def test_a_user_without_the_view_permission_gets_json_403(client, acme):
    sending = campaign(acme, CampaignStatus.SENDING, audience_total=1)
    client.force_login(User.objects.create_user("clerk", password="pw", is_staff=True))
    response = live(client, sending)
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert "rows" not in response.json()


@pytest.mark.parametrize(
    "name", ["admin:catalog_sync_catalogsyncrun_live", "admin:channels_app_syncrun_live"]
)
def test_every_run_admin_has_a_live_url(admin_client, name):
    answer = admin_client.get(reverse(name), {"id": ["1", "x"]}).json()
    assert answer == {"running": False, "rows": {}}
