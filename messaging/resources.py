"""Contacts in and out of CSV files in the admin (django-import-export), read like the
import_contacts command reads them (messaging.contacts): the same columns, numbers read in the
organization's country, the same checks, a number twice refused, consent through the ledger.

An import belongs to the organization chosen on its form, never to a column of the file: the
resource finds and makes contacts of that organization only, so a file cannot reach another's.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields, resources

from channels_app.spreadsheets import (
    OrganizationFilesAdmin,
    RowError,
    refuse_unreadable_file,
    spreadsheet_safe,
)
from messaging.contacts import COLUMNS, contact_consent_import, contact_row_read, phone_region
from messaging.models import Contact

# Each column of the file, and the contact's field it fills.
FIELD_OF_COLUMN = {"phone": "phone", "name": "name", "email": "email", "timezone": "time_zone"}


class ContactResource(resources.ModelResource):
    timezone = fields.Field(attribute="time_zone", column_name="timezone")
    # Written through the consent ledger once the contact is saved, never as a plain field.
    consent = fields.Field(attribute="consent", column_name="consent", readonly=True)

    class Meta:
        model = Contact
        fields = ("phone", "name", "email", "timezone", "consent")
        import_id_fields = ("phone",)
        # The preview is a real import rolled back: the consent ledger is written only by a
        # confirmed one.
        use_transactions = True
        clean_model_instances = True

    def __init__(self, organization_id: int | None = None) -> None:
        super().__init__()
        self.organization_id = organization_id
        self.lines: dict[str, int] = {}  # each number's first line in the file
        self.region = ""

    def dehydrate_name(self, contact: Contact) -> str:
        return spreadsheet_safe(contact.name)

    def dehydrate_email(self, contact: Contact) -> str:
        return spreadsheet_safe(contact.email)

    def get_queryset(self) -> Any:
        # Without an organization (an export, or a form not yet valid) it finds no one to update.
        return Contact.objects.filter(organization_id=self.organization_id or 0)

    def init_instance(self, row: Any = None) -> Contact:
        return Contact(organization_id=self.organization_id or 0)

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        organization_id = refuse_unreadable_file(
            dataset,
            self.organization_id,
            COLUMNS,
            optional="email",
            no_organization="choose the organization the contacts belong to",
        )
        self.region = phone_region(organization_id)
        self.lines.clear()

    def before_import_row(self, row: dict[str, Any], **kwargs: Any) -> None:
        """The row checked and rewritten as stored (E.164, a consent state); a bad one is refused
        with its cell and reason (the page names its line)."""
        line = kwargs["row_number"] + 1  # the header is line 1
        try:
            contact = contact_row_read(row, self.region)
        except RowError as exc:
            raise ValidationError({exc.column: str(exc)}) from None
        first = self.lines.get(contact.phone)
        if first is not None:
            raise ValidationError({"phone": f"{contact.phone} is already on line {first}"})
        self.lines[contact.phone] = line
        row.update(
            phone=contact.phone,
            name=contact.name,
            email=contact.email,
            timezone=contact.time_zone,
            consent=contact.consent,
        )

    def after_init_instance(self, instance: Contact, new: bool, row: dict[str, Any], **kwargs: Any) -> None:
        # A blank cell keeps what the contact has, as the command does.
        for column, field in FIELD_OF_COLUMN.items():
            if not row.get(column):
                row[column] = getattr(instance, field)

    def after_save_instance(self, instance: Contact, row: dict[str, Any], **kwargs: Any) -> None:
        # Consent goes through the ledger, never the row's field: an opt-out a contact sent stands.
        contact_consent_import(instance, row["consent"])


class ContactFilesAdmin(OrganizationFilesAdmin):
    """Import (a preview first, then the confirmation) and export of contacts, in CSV, for the
    user's organizations only (channels_app.spreadsheets)."""

    resource_classes = [ContactResource]
