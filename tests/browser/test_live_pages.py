"""Pages that follow running work update in place: what the user typed and ticked stays, the
progress cells change, and a page with nothing going out never asks the server at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import Organization
from messaging.models import Campaign, CampaignStatus, ConsentState, Contact, Message, MessageStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme():
    return Organization.objects.create(name="Acme", slug="acme")


def live_requests(page) -> list[str]:
    """The live-progress requests the page makes from now on."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if "/live/" in request.url else None)
    return seen


def test_typed_search_and_ticked_rows_stay_while_a_sending_campaigns_progress_updates(
    page, live_server, log_in, staff, acme
):
    sending = Campaign.objects.create(
        organization=acme, name="Spring sale", template="Hi", status=CampaignStatus.SENDING, audience_total=2
    )
    draft = Campaign.objects.create(organization=acme, name="Summer sale", template="Hi")
    messages = [
        Message.objects.create(
            organization=acme,
            contact=Contact.objects.create(
                organization=acme, phone=f"+1415555010{n}", consent=ConsentState.OPTED_IN
            ),
            campaign=sending,
        )
        for n in range(2)
    ]
    staff("wile", "--org", "acme")
    log_in(page, "wile")
    requests = live_requests(page)
    page.goto(f"{live_server.url}/admin/messaging/campaign/")
    page.evaluate("window.stillTheSamePage = true")
    page.fill("#searchbar", "sale to find")
    page.check(f"input.action-select[value='{draft.pk}']")
    progress = page.locator(f"tr:has(input.action-select[value='{sending.pk}']) td.field-progress")
    expect(progress).to_contain_text("0 of 2 done")

    Message.objects.filter(pk=messages[0].pk).update(status=MessageStatus.SENT)
    expect(progress).to_contain_text("1 of 2 done", timeout=10_000)
    assert page.input_value("#searchbar") == "sale to find"
    assert page.is_checked(f"input.action-select[value='{draft.pk}']")
    assert page.evaluate("window.stillTheSamePage") is True

    Message.objects.filter(pk=messages[1].pk).update(status=MessageStatus.SENT)
    Campaign.objects.filter(pk=sending.pk).update(status=CampaignStatus.SENT, materialized=2)
    expect(progress).to_contain_text("2 of 2 done", timeout=10_000)
    row = page.locator(f"tr:has(input.action-select[value='{sending.pk}'])")
    expect(row.locator("td.field-status")).to_have_text("Sent")
    # Nothing runs any more: the page stops asking.
    asked = len(requests)
    page.wait_for_timeout(4_000)
    assert len(requests) == asked and asked >= 2
    assert page.input_value("#searchbar") == "sale to find"


def test_a_list_whose_campaign_is_only_scheduled_never_polls(page, live_server, log_in, staff, acme):
    Campaign.objects.create(
        organization=acme,
        name="Next week",
        template="Hi",
        status=CampaignStatus.SCHEDULED,
        scheduled_at=timezone.now() + timedelta(days=7),
    )
    staff("wile", "--org", "acme")
    log_in(page, "wile")
    requests = live_requests(page)
    page.goto(f"{live_server.url}/admin/messaging/campaign/")
    expect(page.locator("#result_list")).to_contain_text("Next week")
    page.wait_for_timeout(4_000)  # longer than one polling interval
    assert requests == []


def test_a_sending_campaigns_own_page_updates_its_progress_in_place(page, live_server, log_in, staff, acme):
    sending = Campaign.objects.create(
        organization=acme, name="Spring sale", template="Hi", status=CampaignStatus.SENDING, audience_total=1
    )
    contact = Contact.objects.create(organization=acme, phone="+14155550100", consent=ConsentState.OPTED_IN)
    message = Message.objects.create(organization=acme, contact=contact, campaign=sending)
    staff("wile", "--org", "acme")
    log_in(page, "wile")
    page.goto(f"{live_server.url}/admin/messaging/campaign/{sending.pk}/change/")
    page.fill("#id_name", "Spring sale, edited")
    expect(page.locator(".field-progress .readonly")).to_contain_text("0 of 1 done")

    Message.objects.filter(pk=message.pk).update(status=MessageStatus.SENT)
    expect(page.locator(".field-progress .readonly")).to_contain_text("1 of 1 done", timeout=10_000)
    assert page.input_value("#id_name") == "Spring sale, edited"  # the form as the user left it
