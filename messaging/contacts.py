"""Contacts as merchants give them: numbers in any writing, read in the organization's country
(the phone region of its Messaging settings); the rows of an import, checked one by one the same
way by the import_contacts command and by the admin's import; searches by any writing of a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q, QuerySet

from channels_app.spreadsheets import RowError, spreadsheet_unquoted
from messaging.consent import consent_record
from messaging.models import ConsentState, Contact, MessagingSettings
from messaging.phones import PhoneError, digits, e164
from messaging.validators import default_region, time_zone_valid

COLUMNS = ("phone", "name", "timezone", "consent")  # every import has these; "email" may follow
CONSENT = {
    "yes": ConsentState.OPTED_IN,
    "opted_in": ConsentState.OPTED_IN,
    "true": ConsentState.OPTED_IN,
    "1": ConsentState.OPTED_IN,
    "no": ConsentState.OPTED_OUT,
    "opted_out": ConsentState.OPTED_OUT,
    "false": ConsentState.OPTED_OUT,
    "0": ConsentState.OPTED_OUT,
    "": ConsentState.UNKNOWN,
    "unknown": ConsentState.UNKNOWN,
}
# What a search must look like to be read as a number: digits and the marks people write them with.
PHONE_LIKE = re.compile(r"[\d\s()+.\-/]+")
MIN_SEARCH_DIGITS = 4


def phone_region(organization_id: int) -> str:
    """The country the organization's numbers without their +country code are read in: its
    Messaging settings' phone region, else the hub's default (it has no settings yet)."""
    stored = (
        MessagingSettings.objects.filter(organization_id=organization_id)
        .values_list("phone_region", flat=True)
        .first()
    )
    return stored or default_region()


def phone_regions(organizations: QuerySet[Any]) -> set[str]:
    """Every country the numbers of these organizations are read in, for one search across them."""
    stored = MessagingSettings.objects.filter(organization__in=organizations).values_list(
        "phone_region", flat=True
    )
    return {*stored, default_region()}


def phone_search(term: str, regions: Iterable[str]) -> Q | None:
    """Contacts whose number is `term` however it is written: read as a number in each region
    (4155550101, (415) 555-0101, 020 7946 0958), or holding its digits (555-0101). None when
    `term` does not look like a number."""
    term = term.strip()
    found = digits(term)
    if not PHONE_LIKE.fullmatch(term) or len(found) < MIN_SEARCH_DIGITS:
        return None
    numbers = set()
    for region in regions:
        try:
            numbers.add(e164(term, region))
        except PhoneError:
            continue
    return Q(phone__in=numbers) | Q(phone__contains=found)


class ContactForm(forms.ModelForm):
    """A contact as the admin's form takes it: a number written any way is stored in E.164, read
    in the organization's country."""

    class Meta:
        model = Contact
        fields = ("organization", "phone", "name", "email", "time_zone")

    def clean_phone(self) -> str:
        # The organization is cleaned before the phone, since it comes first among the fields.
        organization = self.cleaned_data.get("organization")
        region = phone_region(organization.pk) if organization else default_region()
        try:
            return e164(self.cleaned_data["phone"], region)
        except PhoneError as exc:
            raise forms.ValidationError(str(exc)) from None


@dataclass(frozen=True)
class ContactRow:
    """One row of an import, checked: the phone in E.164, consent a ConsentState."""

    phone: str
    name: str
    email: str
    time_zone: str
    consent: str


def contact_row_read(row: Mapping[str, Any], region: str | None) -> ContactRow:
    """A row of an import (the columns of COLUMNS, and email), checked; RowError says what is wrong."""

    def cell(column: str) -> str:
        value = row.get(column)
        return "" if value is None else str(value).strip()

    try:
        phone = e164(cell("phone"), region)
    except PhoneError as exc:
        raise RowError("phone", str(exc)) from None
    zone = cell("timezone")
    try:
        time_zone_valid(zone)
    except ValidationError as exc:
        raise RowError("timezone", exc.messages[0]) from None
    email = spreadsheet_unquoted(cell("email"))
    try:
        if email:
            validate_email(email)
    except ValidationError:
        raise RowError("email", f"{email!r} is not an email address") from None
    consent = CONSENT.get(cell("consent").lower())
    if consent is None:
        raise RowError("consent", f"consent {cell('consent')!r} is not yes, no or blank")
    return ContactRow(phone, spreadsheet_unquoted(cell("name"))[:200], email, zone, consent)


def contact_consent_import(contact: Contact, consent: str) -> bool:
    """An import's consent, written to the contact's ledger; whether it changed the contact. An
    import never opts back in a contact who opted out (they sent STOP: that stands)."""
    if consent == ConsentState.UNKNOWN:
        return False
    if consent == ConsentState.OPTED_IN and contact.consent == ConsentState.OPTED_OUT:
        return False
    return consent_record(contact, consent, source="import")


@dataclass(frozen=True)
class ContactImported:
    created: bool
    updated: bool
    consent_changed: bool


def contact_import(*, organization_id: int, row: ContactRow) -> ContactImported:
    """Create or update the organization's contact of `row`'s number; a blank cell keeps what the
    contact has."""
    contact, created = Contact.objects.get_or_create(
        organization_id=organization_id,
        phone=row.phone,
        defaults={"name": row.name, "time_zone": row.time_zone, "email": row.email},
    )
    fields = {
        "name": row.name or contact.name,
        "time_zone": row.time_zone or contact.time_zone,
        "email": row.email or contact.email,
    }
    updated = not created and any(getattr(contact, name) != value for name, value in fields.items())
    if updated:
        Contact.objects.filter(pk=contact.pk).update(**fields)
    return ContactImported(created, updated, contact_consent_import(contact, row.consent))
