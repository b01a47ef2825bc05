"""Contacts and consent: numbers in E.164, the consent ledger, keywords, and the CSV import."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from messaging.consent import consent_record, keyword
from messaging.models import ConsentEvent, ConsentState, Contact
from messaging.phones import PhoneError, e164
from tests.channels_app import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def organization():
    return factories.organization()


def test_numbers_are_stored_in_e164_and_bad_ones_say_why():
    assert e164("+1 (415) 555-0123") == "+14155550123"
    assert e164("020 7946 0958", "GB") == "+442079460958"
    with pytest.raises(PhoneError, match="not a valid phone number"):
        e164("+1 555 0000")
    with pytest.raises(PhoneError, match="is not a phone number"):
        e164("call me")


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", "  Stop  ", "STOPALL", "unsubscribe", "Cancel", "END", "quit", "REVOKE", "optout"],
)
def test_every_stop_keyword_in_any_case_opts_out(text):
    assert keyword(text) == "stop"


def test_start_help_and_sentences_that_merely_contain_a_keyword():
    assert keyword("start") == keyword(" UNSTOP") == keyword("Yes") == "start"
    assert keyword("help") == keyword("INFO ") == "help"
    assert keyword("Help ") == "help"
    assert keyword("please stop sending") is None and keyword("") is None


def test_each_consent_change_is_in_the_ledger_with_its_source_and_exact_text(organization):
    contact = Contact.objects.create(organization=organization, phone="+14155550123")
    assert consent_record(contact, ConsentState.OPTED_IN, source="import")
    assert consent_record(contact, ConsentState.OPTED_OUT, source="inbound SMS", text=" Stop ")
    assert not consent_record(contact, ConsentState.OPTED_OUT, source="inbound SMS", text="STOP")

    contact.refresh_from_db()
    assert contact.consent == ConsentState.OPTED_OUT and contact.opted_out_at is not None
    ledger = list(contact.consent_events.values_list("state", "source", "text"))
    assert ledger == [
        ("opted_out", "inbound SMS", "STOP"),
        ("opted_out", "inbound SMS", " Stop "),
        ("opted_in", "import", ""),
    ]


def write(tmp_path, text):
    path = tmp_path / "contacts.csv"
    path.write_text(text)
    return path


def test_import_contacts_reads_the_csv_and_records_consent(organization, tmp_path):
    path = write(
        tmp_path,
        "phone,name,timezone,consent\n"
        "+1 415 555 0123,Wile,America/Los_Angeles,yes\n"
        "+44 7911 123456,Road Runner,,no\n"
        "+33 6 12 34 56 78,,Europe/Paris,\n",
    )
    out = StringIO()
    call_command("import_contacts", "--org", "acme", str(path), stdout=out)

    assert json.loads(out.getvalue()) == {"rows": 3, "created": 3, "updated": 0, "consent_changed": 2}
    wile = Contact.objects.get(phone="+14155550123")
    assert (wile.name, wile.time_zone, wile.consent) == ("Wile", "America/Los_Angeles", ConsentState.OPTED_IN)
    assert Contact.objects.get(phone="+447911123456").consent == ConsentState.OPTED_OUT
    assert Contact.objects.get(phone="+33612345678").consent == ConsentState.UNKNOWN
    assert ConsentEvent.objects.filter(source="import").count() == 2


def test_a_bad_row_names_its_line_and_nothing_is_imported(organization, tmp_path):
    path = write(
        tmp_path,
        "phone,name,timezone,consent\n"
        "+1 415 555 0123,Wile,,yes\n"
        "+1 555,Bad,,yes\n"
        "+44 7911 123456,RR,Mars/Base,no\n",
    )
    with pytest.raises(
        CommandError, match=r"line 3: '\+1 555' is not a valid phone number; nothing was imported"
    ):
        call_command("import_contacts", "--org", "acme", str(path))
    assert not Contact.objects.exists()
    path = write(tmp_path, "phone,name,timezone,consent\n+1 415 555 0123,W,Mars/Base,yes\n")
    with pytest.raises(CommandError, match="line 2: 'Mars/Base' is not an IANA time zone"):
        call_command("import_contacts", "--org", "acme", str(path))
    path = write(tmp_path, "phone,name,consent\n")
    with pytest.raises(CommandError, match="line 1 lacks the column"):
        call_command("import_contacts", "--org", "acme", str(path))


def test_an_import_never_overrides_an_opt_out_the_contact_sent(organization, tmp_path):
    contact = Contact.objects.create(organization=organization, phone="+14155550123")
    consent_record(contact, ConsentState.OPTED_OUT, source="inbound SMS", text="STOP")
    path = write(tmp_path, "phone,name,timezone,consent\n+14155550123,Wile,,yes\n")

    call_command("import_contacts", "--org", "acme", str(path), stdout=StringIO())

    contact.refresh_from_db()
    assert contact.consent == ConsentState.OPTED_OUT and contact.name == "Wile"
