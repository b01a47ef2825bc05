"""Stock levels in and out of CSV files in the admin (django-import-export), read like the
import_stock command reads them (inventory.stock_files): the same columns, the same checks, every
bad row named with its line, and each level set through the ledger, never written as a field.

An import belongs to the organization chosen on its form (channels_app.spreadsheets): its SKUs and
warehouses are looked up and made in that organization only, so a file cannot reach another's.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from import_export import fields, resources, widgets

from channels_app.spreadsheets import (
    OrganizationFilesAdmin,
    RowError,
    refuse_unreadable_file,
    spreadsheet_safe,
)
from inventory.models import SKU, MovementReason, StockLevel, Warehouse
from inventory.services import stock_set
from inventory.stock_files import COLUMNS, RowsSeen, stock_row_place, stock_row_read


class CodeWidget(widgets.ForeignKeyWidget):
    """A SKU or warehouse by its code, among the importing organization's own only."""

    def __init__(self, model: type[Model]) -> None:
        super().__init__(model, field="code")
        self.organization_id: int | None = None

    def get_queryset(self, value: Any, row: Any, *args: Any, **kwargs: Any) -> QuerySet[Any]:
        return self.model.objects.filter(organization_id=self.organization_id or 0)

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return spreadsheet_safe(str(super().render(value, obj, **kwargs)))


class StockLevelResource(resources.ModelResource):
    sku = fields.Field(attribute="sku", column_name="sku", widget=CodeWidget(SKU))
    warehouse = fields.Field(attribute="warehouse", column_name="warehouse", widget=CodeWidget(Warehouse))
    on_hand = fields.Field(attribute="on_hand", column_name="on_hand", widget=widgets.IntegerWidget())
    # Exported to be read, ignored on import: they follow from orders, not from a file.
    reserved = fields.Field(attribute="reserved", column_name="reserved", readonly=True)
    available = fields.Field(attribute="available", column_name="available", readonly=True)

    class Meta:
        model = StockLevel
        fields = ("sku", "warehouse", "on_hand", "reserved", "available")
        import_id_fields = ("sku", "warehouse")
        # The preview is a real import rolled back: the ledger is written only by a confirmed one.
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def __init__(self, organization_id: int | None = None) -> None:
        super().__init__()
        self.organization_id = organization_id
        for name in ("sku", "warehouse"):
            self.fields[name].widget.organization_id = organization_id
        self.seen = RowsSeen()

    def get_queryset(self) -> Any:
        # Without an organization (an export, or a form not yet valid) it finds no level to update.
        return StockLevel.objects.filter(sku__organization_id=self.organization_id or 0)

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        refuse_unreadable_file(
            dataset,
            self.organization_id,
            COLUMNS,
            optional="title",
            no_organization="choose the organization the stock belongs to",
        )
        self.seen = RowsSeen()

    def before_import_row(self, row: dict[str, Any], **kwargs: Any) -> None:
        """The row checked (a bad one refused with its cell and reason; the page names its line),
        and its SKU and warehouse found or made in the organization."""
        assert self.organization_id is not None
        try:
            stock_row = stock_row_read(row)
            self.seen.add(kwargs["row_number"] + 1, stock_row)  # the header is line 1
        except RowError as exc:
            raise ValidationError({exc.column: str(exc)}) from None
        stock_row_place(organization_id=self.organization_id, row=stock_row)
        row.update(sku=stock_row.sku, warehouse=stock_row.warehouse, on_hand=stock_row.on_hand)

    def save_instance(
        self, instance: StockLevel, is_create: bool, row: dict[str, Any], **kwargs: Any
    ) -> None:
        # Through the ledger, never the row's field: a level is the sum of its movements.
        if self._is_dry_run(kwargs) and not self._is_using_transactions(kwargs):
            return
        user = kwargs.get("user")
        stock_set(
            sku_id=instance.sku_id,
            warehouse_id=instance.warehouse_id,
            on_hand=instance.on_hand,
            reason=MovementReason.IMPORT,
            reference=f"{kwargs.get('file_name') or 'import'}:{kwargs['row_number'] + 1}",
            note=f"imported in the admin by {user.get_username()}" if user is not None else "",
        )
        stored = StockLevel.objects.get(sku_id=instance.sku_id, warehouse_id=instance.warehouse_id)
        instance.pk, instance.on_hand, instance.reserved = stored.pk, stored.on_hand, stored.reserved


class StockFilesAdmin(OrganizationFilesAdmin):
    """Import (a preview first, then the confirmation) and export of stock levels, in CSV."""

    resource_classes = [StockLevelResource]

    def has_import_permission(self, request: HttpRequest) -> bool:
        # Levels are changed, never added by hand; an import may add the SKUs and warehouses it names.
        return request.user.has_perms(
            ["inventory.change_stocklevel", "inventory.add_sku", "inventory.add_warehouse"]
        )

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # A row that went bad between the preview and the confirmation undoes the whole import.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        if result.has_errors() or result.has_validation_errors():
            # Rolled back whole (above): say so, rather than django-import-export's "finished".
            messages.error(
                request,
                "Nothing was imported: some rows could not be taken when confirmed. "
                "Upload the file again to see which.",
            )
            return redirect("admin:inventory_stocklevel_import")
        return super().process_result(result, request)
