"""Contacts in and out of CSV files in the admin (django-import-export), read like the
import_contacts command reads them (messaging.contacts): the same columns, numbers read in the
organization's country, the same checks, a number twice refused, consent through the ledger.

An import belongs to the organization chosen on its form, never to a column of the file: the
resource finds and makes contacts of that organization only, so a file cannot reach another's.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from import_export import fields, resources
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.tmp_storages import MediaStorage

from channels_app.access import organizations_of
from channels_app.models import Organization
from messaging.contacts import (
    COLUMNS,
    RowError,
    contact_consent_import,
    contact_row_read,
    phone_region,
    spreadsheet_safe,
)
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
        missing = [column for column in COLUMNS if column not in (dataset.headers or [])]
        if self.organization_id is None or missing:
            # django-import-export goes on to the rows after this error: leave it none to read.
            dataset.wipe()
            if missing:
                raise ValueError(
                    f"line 1 lacks the column(s) {', '.join(missing)} "
                    f"(expected {','.join(COLUMNS)}, and email if wanted)"
                )
            raise ValueError("choose the organization the contacts belong to")
        self.region = phone_region(self.organization_id)
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


class OrganizationImportForm(ImportForm):
    """The file, and the organization its contacts belong to (among the user's own)."""

    organization = forms.ModelChoiceField(queryset=Organization.objects.none())

    def __init__(self, *args: Any, organizations: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        if len(organizations) == 1:
            self.fields["organization"].initial = organizations[0]


class OrganizationConfirmImportForm(ConfirmImportForm):
    """The preview's confirmation; the organization is checked again against the user's own."""

    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), widget=forms.HiddenInput)

    def __init__(self, *args: Any, organizations: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations


class ContactFilesAdmin(ImportExportMixin):
    """Import (a preview first, then the confirmation) and export of contacts, in CSV, for the
    user's organizations only: exports list what the user's contact list shows, and an import's
    organization is one of the user's, checked on the preview and again on the confirmation."""

    resource_classes = [ContactResource]
    formats = [CSV]
    import_form_class = OrganizationImportForm
    confirm_form_class = OrganizationConfirmImportForm
    import_template_name = "admin/messaging/contact/import.html"
    # The upload waits for its confirmation in the default storage (under MEDIA_ROOT, never served),
    # named by a random id: every web process finds it, and no one else's upload can be named.
    tmp_storage_class = MediaStorage

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)  # type: ignore[attr-defined]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(self.has_view_permission(request))  # type: ignore[attr-defined]

    def get_import_form_kwargs(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_import_form_kwargs(request), "organizations": organizations_of(request)}

    def get_confirm_form_kwargs(self, request: HttpRequest, import_form: Any = None) -> dict[str, Any]:
        kwargs = super().get_confirm_form_kwargs(request, import_form)
        return {**kwargs, "organizations": organizations_of(request)}

    def get_confirm_form_initial(self, request: HttpRequest, import_form: Any) -> dict[str, Any]:
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["organization"] = import_form.cleaned_data["organization"].pk
        return initial

    def get_import_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        form = kwargs.get("form")
        organization = getattr(form, "cleaned_data", {}).get("organization")
        return {"organization_id": organization.pk if organization else None}

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return {}
