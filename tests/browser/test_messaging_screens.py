"""A merchant's SMS screens in a real browser: a campaign checked, counted and confirmed before it
goes; contacts imported from a file after a preview, found by any writing of a number, and each
one's messages on its page."""

from __future__ import annotations

from datetime import time

import pytest
from playwright.sync_api import expect

from channels_app.models import Organization
from messaging.models import (
    Campaign,
    CampaignStatus,
    ConsentState,
    Contact,
    Message,
    MessagingSettings,
    OutboxRecord,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme():
    organization = Organization.objects.create(name="Acme", slug="acme")
    MessagingSettings.objects.create(organization=organization, quiet_start=time(0), quiet_end=time(0))
    return organization


def test_a_campaign_is_checked_counted_and_confirmed_before_it_goes(
    page, live_server, log_in, staff, run_worker, screenshot, acme
):
    states = [ConsentState.OPTED_IN] * 4 + [ConsentState.OPTED_OUT]
    Contact.objects.bulk_create(
        [
            Contact(organization=acme, phone=f"+141555501{n:02d}", name=f"P{n}", consent=state)
            for n, state in enumerate(states)
        ]
    )
    staff("wile", "--org", "acme")
    log_in(page, "wile")

    page.goto(f"{live_server.url}/admin/messaging/campaign/add/")
    page.select_option("#id_organization", label="Acme")
    page.fill("#id_name", "Spring sale")
    page.fill("#id_audience", '{"time_zone": "Europe/Pariss"}')
    page.fill(
        "#id_template",
        "Hi {{ contact.name }}, spring is here: 20% off everything until Sunday ☀️ Reply STOP to opt out.",
    )
    page.click("input[name=_save]")
    expect(page.locator(".field-audience .errorlist")).to_contain_text(
        "time_zone 'Europe/Pariss' is not an IANA time zone"
    )
    page.fill("#id_audience", "{}")
    page.click("input[name=_continue]")
    expect(page.locator(".field-recipients")).to_contain_text("4 recipients (of 5 matching contacts")
    expect(page.locator(".field-preview")).to_contain_text("encoding UCS-2, 2 segments")

    page.goto(f"{live_server.url}/admin/messaging/campaign/")
    page.check("#result_list tbody input[type=checkbox]")
    page.select_option("select[name=action]", "send_now")
    page.click("button[name=index]")
    expect(page.locator("h1")).to_contain_text("Send these campaigns now?")
    expect(page.locator("#send-plan")).to_contain_text("4 recipients")
    expect(page.locator("#send-total")).to_contain_text("In all: 4 recipients, 8 segments, about 0.0664 USD")
    assert Campaign.objects.get().status == CampaignStatus.DRAFT
    screenshot("campaign-send-confirmation")

    page.click("input[type=submit][value='Yes, send now']")
    expect(page.locator(".messagelist")).to_contain_text("1 campaign sending.")
    run_worker("messaging-campaigns", "messaging-bulk")
    assert OutboxRecord.objects.count() == 4
    page.goto(f"{live_server.url}/admin/messaging/campaign/")
    expect(page.locator("#result_list")).to_contain_text("4 sent, 1 suppressed")


def test_contacts_are_imported_after_a_preview_found_by_any_writing_and_show_their_messages(
    page, live_server, log_in, staff, screenshot, acme, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path  # where the upload waits for its confirmation
    staff("wile", "--org", "acme")
    log_in(page, "wile")
    page.goto(f"{live_server.url}/admin/messaging/contact/")
    page.click("a.import_link")
    page.set_input_files(
        "#id_import_file",
        files=[
            {
                "name": "contacts.csv",
                "mimeType": "text/csv",
                "buffer": (
                    b"phone,name,timezone,consent,email\n"
                    b"(415) 555-0101,Road Runner,America/Los_Angeles,yes,rr@example.com\n"
                    b"415 555,Short,,yes,\n"
                ),
            }
        ],
    )
    page.click("input[type=submit]")
    expect(page.locator("#invalid-rows")).to_contain_text("'415 555' is not a valid phone number")
    expect(page.locator("#invalid-rows tbody tr td").first).to_have_text("3")  # its line in the file
    assert not Contact.objects.exists()

    page.set_input_files(
        "#id_import_file",
        files=[
            {
                "name": "contacts.csv",
                "mimeType": "text/csv",
                "buffer": (
                    b"phone,name,timezone,consent,email\n"
                    b"(415) 555-0101,Road Runner,America/Los_Angeles,yes,rr@example.com\n"
                    b"+44 7911 123456,Londoner,Europe/London,no,\n"
                ),
            }
        ],
    )
    page.click("input[type=submit]")
    expect(page.locator("table.import-preview")).to_contain_text("+14155550101")
    screenshot("contact-import-preview")
    assert not Contact.objects.exists()  # a preview only
    page.click("input[name=confirm]")
    expect(page.locator(".messagelist")).to_contain_text("Import finished: 2 new")

    page.fill("#searchbar", "(415) 555-0101")
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    road = Contact.objects.get(name="Road Runner")
    assert road.consent == ConsentState.OPTED_IN
    sale = Campaign.objects.create(organization=acme, name="Spring sale", template="x")
    Message.objects.create(
        organization=acme, contact=road, campaign=sale, status="delivered", body="Spring is here: 20% off"
    )
    page.locator("#result_list a", has_text="+14155550101").click()
    expect(page.locator("#id_email")).to_have_value("rr@example.com")
    history = page.locator("#message-history")
    expect(history).to_contain_text("Delivered")
    expect(history).to_contain_text("campaign Spring sale")
    expect(history).to_contain_text("Spring is here: 20% off")
    screenshot("contact-messages")
