"""Contacts as a merchant handles them: numbers written any way stored in E.164 in the
organization's country (form, CSV command, inbound SMS), a search that finds a number however it
is typed, the contact's messages on its page, and CSV import (preview first) and export."""

from __future__ import annotations

import csv
import io
from html import unescape
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from messaging.consent import consent_record
from messaging.models import (
    Automation,
    Campaign,
    ConsentEvent,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    MessagingSettings,
)
from tests.channels_app import factories
from tests.messaging.factories import settings_without_quiet_hours
from tests.platforms import fixture_json, post_twilio

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def merchant(client, settings, tmp_path):
    """Wile of Acme (numbers read in the US unless a test says otherwise), with Globex beside."""
    settings.MEDIA_ROOT = tmp_path  # where an upload waits for its confirmation
    organization = factories.organization()
    settings_without_quiet_hours(organization)
    client.globex = factories.organization("globex")
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme", stdout=StringIO())
    client.force_login(User.objects.get(username="wile"))
    client.organization = organization
    return client


def page(response) -> str:
    return " ".join(unescape(response.content.decode()).split())


def add_contact(client, phone, **fields):
    data = {"organization": client.organization.pk, "phone": phone, "name": "", "email": "", "time_zone": ""}
    data.update(fields, **{"consent_events-TOTAL_FORMS": 0, "consent_events-INITIAL_FORMS": 0})
    return client.post(reverse("admin:messaging_contact_add"), data, follow=True)


def test_the_contact_form_stores_a_number_written_any_way_in_e164(merchant):
    add_contact(merchant, "415 555 0199", name="Wile")
    assert Contact.objects.get(name="Wile").phone == "+14155550199"

    body = page(add_contact(merchant, "(415) 555-0199", name="Again"))  # the same number
    assert "Contact with this Organization and Phone already exists." in body

    body = page(add_contact(merchant, "415 555", name="Short"))
    assert (
        "'415 555' is not a valid phone number (read as a number of US: write it with its +country code)"
        in body
    )
    assert not Contact.objects.filter(name__in=["Again", "Short"]).exists()

    MessagingSettings.objects.update(phone_region="GB")
    add_contact(merchant, "020 7946 0958", name="Londoner")
    add_contact(merchant, "+1 415 555 0142", name="Visitor")  # a +country code wins over the region
    assert Contact.objects.get(name="Londoner").phone == "+442079460958"
    assert Contact.objects.get(name="Visitor").phone == "+14155550142"


def test_the_organization_region_is_set_in_messaging_settings_and_checked(merchant, settings):
    row = MessagingSettings.objects.get()
    assert row.phone_region == "US"  # the default it was given, PHONENUMBER_DEFAULT_REGION
    url = reverse("admin:messaging_messagingsettings_change", args=[row.pk])
    data = {
        "organization": merchant.organization.pk,
        "time_zone": "UTC",
        "quiet_start": "21:00",
        "quiet_end": "08:00",
        "cap_messages": 3,
        "cap_hours": 24,
        "help_text": "Reply STOP to unsubscribe.",
        "phone_region": "xx",
    }
    assert "'XX' is not a country code libphonenumber knows" in page(merchant.post(url, data))
    assert merchant.post(url, {**data, "phone_region": "fr"}).status_code == 302
    assert MessagingSettings.objects.get().phone_region == "FR"

    settings.PHONENUMBER_DEFAULT_REGION = "DE"
    assert MessagingSettings.objects.create(organization=merchant.globex).phone_region == "DE"


def test_the_csv_command_reads_numbers_in_the_organizations_region(merchant, tmp_path):
    MessagingSettings.objects.update(phone_region="GB")
    path = tmp_path / "contacts.csv"
    path.write_text("phone,name,timezone,consent,email\n07911 123456,Road Runner,,yes,rr@example.com\n")

    call_command("import_contacts", "--org", "acme", str(path), stdout=StringIO())

    contact = Contact.objects.get()
    assert (contact.phone, contact.email, contact.consent) == ("+447911123456", "rr@example.com", "opted_in")


def test_an_inbound_sms_from_a_number_written_locally_finds_its_contact(merchant, settings, run_worker):
    settings.WEBHOOK_BASE_URL = "https://hub.example.com"
    sid, token = "AC" + "2" * 32, "twilio-token"
    channel = factories.twilio_channel(shop_identifier=sid, webhook_secret=token)
    assert channel.organization == merchant.organization  # Acme's Twilio account
    contact = Contact.objects.create(organization=channel.organization, phone="+14155550123")
    consent_record(contact, ConsentState.OPTED_IN, source="checkout")
    params = fixture_json("twilio/inbound_sms_stop.json")["params"]
    form = {**params, "AccountSid": sid, "From": "(415) 555-0123", "Body": "STOP", "MessageSid": "SM9"}
    response = post_twilio(merchant, channel, "inbound", form)
    assert response.status_code == 200
    run_worker("messaging-events", "messaging-delivery")

    contact.refresh_from_db()
    assert contact.consent == ConsentState.OPTED_OUT
    assert Contact.objects.filter(organization=channel.organization).count() == 1  # no second contact


def test_search_finds_a_number_however_it_is_typed_and_by_name_or_email(merchant):
    ours = Contact.objects.create(
        organization=merchant.organization, phone="+14155550101", name="Road Runner", email="rr@acme.example"
    )
    Contact.objects.create(organization=merchant.organization, phone="+14155550199", name="Wile")
    Contact.objects.create(organization=merchant.globex, phone="+14155550101", name="Globex's own")
    url = reverse("admin:messaging_contact_changelist")

    for term in [
        "4155550101",
        "(415) 555-0101",
        "+1 415-555-0101",
        "415.555.0101",
        "555-0101",
        "road",
        "rr@acme",
    ]:
        body = page(merchant.get(url, {"q": term}))
        assert f"/{ours.pk}/change/" in body, term
        assert "Wile" not in body and "Globex's own" not in body, term
    assert "Road Runner" not in page(merchant.get(url, {"q": "4155550102"}))


def test_a_contacts_page_lists_its_messages_newest_first_with_a_link_to_all(merchant):
    contact = Contact.objects.create(organization=merchant.organization, phone="+14155550101", name="RR")
    other = Contact.objects.create(organization=merchant.organization, phone="+14155550199", name="Wile")
    sale = Campaign.objects.create(organization=merchant.organization, name="Spring sale", template="x")
    shipped = Automation.objects.create(
        organization=merchant.organization, name="Shipped note", trigger="fulfillment_shipped", template="x"
    )
    Message.objects.create(
        organization=merchant.organization, contact=contact, campaign=sale, body="Oldest: spring sale"
    )
    for n in range(23):
        Message.objects.create(
            organization=merchant.organization,
            contact=contact,
            automation=shipped,
            event_key=f"e{n}",
            status=MessageStatus.DELIVERED,
            body=f"Shipped #{n}",
        )
    Message.objects.create(
        organization=merchant.organization,
        contact=contact,
        status=MessageStatus.SUPPRESSED,
        suppression_reason="opted_out",
        keyword_reply=True,
        body="Newest",
    )
    Message.objects.create(organization=merchant.organization, contact=other, body="Not theirs")

    body = page(merchant.get(reverse("admin:messaging_contact_change", args=[contact.pk])))

    history = body[body.index('id="message-history"') :]
    assert history.index("Newest") < history.index("Shipped #22") < history.index("Shipped #5")
    assert "Suppressed (Opted out)" in history and "reply to their keyword" in history
    assert (
        f'automation <a href="/admin/messaging/automation/{shipped.pk}/change/">Shipped note</a>' in history
    )
    assert "Shipped #4" in history  # the 20th
    assert "Shipped #3" not in history and "Oldest" not in history and "Not theirs" not in history
    link = f"/admin/messaging/message/?contact__id__exact={contact.pk}"
    assert f'<a href="{link}">All 25 messages</a>' in history

    listed = page(merchant.get(link))
    assert "25 messages" in listed
    assert "Not theirs" not in listed


def upload(client, text, organization=None, name="contacts.csv"):
    data = {
        "resource": "0",
        "format": "0",
        "organization": (organization or client.organization).pk,
        "import_file": SimpleUploadedFile(name, text.encode(), content_type="text/csv"),
    }
    return client.post(reverse("admin:messaging_contact_import"), data)


def confirm(client, preview):
    """Post the preview's confirmation form as it was rendered."""
    form = preview.context["confirm_form"]
    data = {name: form[name].value() for name in form.fields}
    return client.post(reverse("admin:messaging_contact_process_import"), data, follow=True)


def test_an_import_is_previewed_then_confirmed_with_consent_through_the_ledger(merchant):
    Contact.objects.create(organization=merchant.organization, phone="+14155550101", name="Old name")
    stopped = Contact.objects.create(organization=merchant.organization, phone="+14155550102", name="Stopped")
    consent_record(stopped, ConsentState.OPTED_OUT, source="inbound SMS", text="STOP")
    text = (
        "phone,name,timezone,consent,email\n"
        "(415) 555-0101,Road Runner,America/Los_Angeles,yes,rr@example.com\n"
        "415 555 0102,,,yes,\n"  # sent STOP: an import never opts them back in
        "+44 7911 123456,Londoner,Europe/London,no,\n"
    )

    preview = upload(merchant, text)

    body = page(preview)
    assert "Preview" in body and "Confirm import" in body
    assert body.count('class="import-type"> New ') == 1 and body.count('class="import-type"> Update ') == 2
    assert "+447911123456" in body and "Road Runner" in body
    assert Contact.objects.count() == 2 and not ConsentEvent.objects.filter(source="import").exists()

    done = page(confirm(merchant, preview))

    assert "Import finished: 1 new, 2 updated" in done
    road = Contact.objects.get(phone="+14155550101")
    assert (road.name, road.email, road.time_zone, road.consent) == (
        "Road Runner",
        "rr@example.com",
        "America/Los_Angeles",
        ConsentState.OPTED_IN,
    )
    stopped.refresh_from_db()
    assert stopped.consent == ConsentState.OPTED_OUT and stopped.name == "Stopped"  # blank keeps it
    assert Contact.objects.get(phone="+447911123456").consent == ConsentState.OPTED_OUT
    assert list(ConsentEvent.objects.filter(source="import").values_list("contact__phone", "state")) == [
        ("+447911123456", "opted_out"),
        ("+14155550101", "opted_in"),
    ]


def test_every_bad_row_is_named_with_its_line_and_reason_and_nothing_is_imported(merchant):
    text = (
        "phone,name,timezone,consent\n"
        "+1 415 555 0101,Good,,yes\n"
        "415 555,Short,,yes\n"
        "+1 415 555 0103,Zone,Mars/Base,no\n"
        "+1 415 555 0104,Consent,,maybe\n"
        "(415) 555-0101,Twice,,yes\n"
    )

    body = page(upload(merchant, text))

    assert "Some rows cannot be imported" in body and "Confirm import" not in body
    rows = body[body.index('id="invalid-rows"') :]
    for line, reason in [
        (3, "phone: '415 555' is not a valid phone number (read as a number of US"),
        (4, "timezone: 'Mars/Base' is not an IANA time zone"),
        (5, "consent: consent 'maybe' is not yes, no or blank"),
        (6, "phone: +14155550101 is already on line 2"),
    ]:
        assert f'<td>{line}</td> <td class="errors"> <ul class="validation-error-list"> <li>{reason}' in rows
    assert "<td>2</td>" not in rows
    assert not Contact.objects.exists()

    body = page(upload(merchant, "phone,name\n+14155550101,x\n"))
    assert "line 1 lacks the column(s) timezone, consent" in body and "Traceback" not in body


def test_an_import_never_creates_or_touches_another_organizations_contacts(merchant):
    theirs = Contact.objects.create(organization=merchant.globex, phone="+14155550101", name="Globex's")
    text = "phone,name,timezone,consent,organization\n4155550101,Ours now,,yes,globex\n"

    # The file's organization column is no one's business; the form's is one of the user's.
    assert "Select a valid choice" in page(upload(merchant, text, organization=merchant.globex))
    preview = upload(merchant, text)
    form = preview.context["confirm_form"]
    tampered = {name: form[name].value() for name in form.fields} | {"organization": merchant.globex.pk}
    response = merchant.post(reverse("admin:messaging_contact_process_import"), tampered)
    assert "Select a valid choice" in page(response)
    assert not Contact.objects.filter(organization=merchant.organization).exists()

    confirm(merchant, preview)

    theirs.refresh_from_db()
    assert theirs.name == "Globex's" and theirs.consent == ConsentState.UNKNOWN
    assert not theirs.consent_events.exists()
    ours = Contact.objects.get(organization=merchant.organization)
    assert (ours.phone, ours.name) == ("+14155550101", "Ours now")


def test_export_lists_only_the_users_contacts_and_reads_back_in(merchant):
    Contact.objects.create(
        organization=merchant.organization,
        phone="+14155550101",
        name='=HYPERLINK("http://evil.example")',  # a customer's name, from their order
        email="rr@example.com",
        time_zone="America/New_York",
        consent=ConsentState.OPTED_IN,
    )
    Contact.objects.create(organization=merchant.globex, phone="+14155550199", name="Globex's")

    columns = {f"contactresource_{name}": "on" for name in ("phone", "name", "email", "timezone", "consent")}
    response = merchant.post(reverse("admin:messaging_contact_export"), {"format": "0", **columns})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        {
            "phone": "+14155550101",
            "name": '\'=HYPERLINK("http://evil.example")',  # a spreadsheet shows it, never runs it
            "email": "rr@example.com",
            "timezone": "America/New_York",
            "consent": "opted_in",
        }
    ]
    Contact.objects.filter(organization=merchant.organization).delete()
    confirm(merchant, upload(merchant, response.content.decode("utf-8-sig")))
    back = Contact.objects.get(organization=merchant.organization)
    assert (back.name, back.consent) == ('=HYPERLINK("http://evil.example")', ConsentState.OPTED_IN)


def test_a_merchant_without_the_add_permission_has_no_import(merchant):
    from django.contrib.auth.models import Permission

    user = User.objects.get(username="wile")
    user.user_permissions.remove(Permission.objects.get(codename="add_contact"))
    assert merchant.get(reverse("admin:messaging_contact_import")).status_code == 403
    assert merchant.get(reverse("admin:messaging_contact_export")).status_code == 200
