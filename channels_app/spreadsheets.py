"""Files merchants exchange with the hub in the admin (contacts, stock levels), in CSV: cells safe to
open in a spreadsheet, rows refused with the cell at fault, and imports that belong to one of the
user's organizations, chosen on the import's form (django-import-export), never read from the file.

Here beside the organizations and their admin scoping (channels_app.access), which every app's
admin already uses, so that no app imports another's admin or its private helpers for them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.tmp_storages import MediaStorage

from channels_app.access import organizations_of
from channels_app.models import Organization

# A cell a spreadsheet would run as a formula: exports quote it (a customer's name comes from their
# order, and the merchant opens the file in Excel), and imports take the quote off again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """`text` for a cell of an exported file: a formula's start is quoted, so it shows as text."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def spreadsheet_unquoted(text: str) -> str:
    """A cell as spreadsheet_safe wrote it, back to its text."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


class RowError(ValueError):
    """A row of an import that cannot be taken; `column` names the cell at fault."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def refuse_unreadable_file(
    dataset: Any,
    organization_id: int | None,
    columns: tuple[str, ...],
    *,
    optional: str,
    no_organization: str,
) -> int:
    """Refuse a file before its rows are read: one without the columns it needs says which it
    lacks, and one sent without an organization is refused with `no_organization`. Returns the
    organization's id."""
    missing = [column for column in columns if column not in (dataset.headers or [])]
    if organization_id is not None and not missing:
        return organization_id
    # django-import-export goes on to the rows after this error: leave it none to read.
    dataset.wipe()
    if missing:
        raise ValueError(
            f"line 1 lacks the column(s) {', '.join(missing)} "
            f"(expected {','.join(columns)}, and {optional} if wanted)"
        )
    raise ValueError(no_organization)


class OrganizationImportForm(ImportForm):
    """The file, and the organization its rows belong to (among the user's own)."""

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


class OrganizationFilesAdmin(ImportExportMixin):
    """Import (a preview first, then the confirmation) and export, in CSV, for the user's
    organizations only: exports list what the user's list shows, and an import's organization is
    one of the user's, checked on the preview and again on the confirmation. Its resource takes
    `organization_id` (None until the form is valid: it must then find and make nothing)."""

    formats = [CSV]
    import_form_class = OrganizationImportForm
    confirm_form_class = OrganizationConfirmImportForm
    # Each bad row named by its line in the file, as the import commands count (the header is 1).
    import_template_name = "admin/import_by_line.html"
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
