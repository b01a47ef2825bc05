from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, QueryDict

from channels_app.access import OrganizationScopedAdmin, OrganizationScopedInline
from inventory.models import (
    MANUAL_REASONS,
    SKU,
    ChannelVariant,
    MovementReason,
    Product,
    Reservation,
    StockLevel,
    StockMovement,
    Warehouse,
)
from inventory.resources import StockFilesAdmin
from inventory.services import stock_count, stock_move


class StockStatus(models.TextChoices):
    LOW = "low", "Low (at or below the reorder point, or out)"
    OUT = "out", "Out of stock"


@admin.register(Warehouse)
class WarehouseAdmin(OrganizationScopedAdmin):
    list_display = ("code", "name", "organization", "is_default")
    list_filter = (("organization", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("code", "name")


@admin.register(Product)
class ProductAdmin(OrganizationScopedAdmin):
    list_display = ("title", "organization", "created_at")
    search_fields = ("title",)
    list_filter = (("organization", admin.RelatedOnlyFieldListFilter),)


class ChannelVariantInline(OrganizationScopedInline):
    model = ChannelVariant
    extra = 0
    raw_id_fields = ("channel",)


@admin.register(SKU)
class SKUAdmin(OrganizationScopedAdmin):
    list_display = ("code", "title", "organization", "product", "reorder_point")
    list_filter = (("organization", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("organization", "product")
    search_fields = ("code", "title", "channel_variants__external_variant_id")
    raw_id_fields = ("product",)
    inlines = [ChannelVariantInline]


class StockStatusFilter(admin.SimpleListFilter):
    """Levels to act on: low (at or below their SKU's reorder point, or out) and out of stock."""

    title = "stock"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(status.value, status.label) for status in StockStatus]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # `available_units` is annotated by StockLevelAdmin.get_queryset.
        out = Q(available_units__lte=0)
        if self.value() == StockStatus.OUT:
            return queryset.filter(out)
        if self.value() == StockStatus.LOW:
            return queryset.filter(
                out | Q(sku__reorder_point__gt=0, available_units__lte=F("sku__reorder_point"))
            )
        return queryset


class StockLevelForm(forms.ModelForm):
    """A level changed by hand, as a movement of the ledger with its reason: set to a counted
    figure (refused if the level moved since the page was shown, so nothing that happened
    meanwhile is undone) or changed by a number of units."""

    set_on_hand = forms.IntegerField(
        required=False, min_value=0, label="Set on hand to", help_text="A counted figure."
    )
    change_by = forms.IntegerField(
        required=False, label="Or change on hand by", help_text="Units in (24) or out (-3)."
    )
    reason = forms.ChoiceField(choices=[(r.value, r.label) for r in MANUAL_REASONS])
    note = forms.CharField(required=False, max_length=500, widget=forms.TextInput(attrs={"size": 60}))
    seen_on_hand = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = StockLevel
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["seen_on_hand"].initial = self.instance.on_hand

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        wanted = [data.get("set_on_hand") is not None, data.get("change_by") not in (None, 0)]
        if wanted.count(True) != 1:
            raise forms.ValidationError(
                "Give either the on hand figure to set, or the units to change it by."
            )
        # Locked until the admin's transaction ends (its change view is atomic), so the figure
        # checked here is the one the movement starts from.
        on_hand = StockLevel.objects.select_for_update().get(pk=self.instance.pk).on_hand
        if data.get("change_by") is not None and on_hand + data["change_by"] < 0:
            self.add_error("change_by", f"On hand is {on_hand}: it cannot go below 0.")
        seen = data.get("seen_on_hand")
        if data.get("set_on_hand") is not None and seen is not None and seen != on_hand:
            # The form shown again carries the figure now seen: saving it again, checked, goes through.
            posted = cast(QueryDict, self.data).copy()  # A copy of a request's QueryDict is mutable.
            posted["seen_on_hand"] = str(on_hand)
            self.data = posted
            raise forms.ValidationError(
                f"On hand changed to {on_hand} meanwhile (see the ledger): check your figure and save again."
            )
        return data


@admin.register(StockLevel)
class StockLevelAdmin(StockFilesAdmin, OrganizationScopedAdmin):
    organization_path = "sku__organization"
    form = StockLevelForm
    list_display = (
        "sku",
        "warehouse",
        "on_hand",
        "reserved",
        "available_units",
        "reorder_point",
        "updated_at",
    )
    list_filter = (StockStatusFilter, ("warehouse", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("sku", "warehouse")
    search_fields = ("sku__code", "sku__title", "warehouse__code")
    readonly_fields = (
        "sku",
        "warehouse",
        "on_hand",
        "reserved",
        "channel_reported_at",
        "updated_at",
        "ledger",
    )
    fieldsets = (
        (None, {"fields": ("sku", "warehouse", "on_hand", "reserved", "channel_reported_at", "updated_at")}),
        ("Change on hand", {"fields": ("set_on_hand", "change_by", "reason", "note", "seen_on_hand")}),
        (None, {"fields": ("ledger",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[StockLevel]:
        return super().get_queryset(request).annotate(available_units=F("on_hand") - F("reserved"))

    @admin.display(description="available", ordering="available_units")
    def available_units(self, level: StockLevel) -> int:
        return level.available

    @admin.display(description="reorder point", ordering="sku__reorder_point")
    def reorder_point(self, level: StockLevel) -> int | str:
        return level.sku.reorder_point or "-"

    @admin.display(description="Ledger (newest first)")
    def ledger(self, level: StockLevel) -> str:
        rows = StockMovement.objects.filter(sku=level.sku, warehouse=level.warehouse).order_by("-pk")[:50]
        return (
            "\n".join(
                f"{m.created_at:%Y-%m-%d %H:%M} {m.quantity:+d} = {m.on_hand_after} {m.reason} {m.reference}"
                + (f": {m.note}" if m.note else "")
                for m in rows
            )
            or "-"
        )

    def construct_change_message(  # type: ignore[override]
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> str:
        """The admin log's words for the change (LogEntry keeps a string as it is given)."""
        data = form.cleaned_data
        if data.get("set_on_hand") is not None:
            change = f"set on hand to {data['set_on_hand']}"
        else:
            change = f"changed on hand by {data['change_by']:+d}"
        reason = MovementReason(data["reason"]).label
        return f"{change} ({reason}: {data['note']})" if data["note"] else f"{change} ({reason})"

    def save_model(self, request: HttpRequest, obj: StockLevel, form: Any, change: bool) -> None:
        """Through the ledger, never a write of the level's fields: one movement, with its reason."""
        data = form.cleaned_data
        common = {
            "sku_id": obj.sku_id,
            "warehouse_id": obj.warehouse_id,
            "reason": data["reason"],
            "reference": f"admin: {request.user.get_username()}",
            "note": data["note"],
        }
        if data.get("set_on_hand") is not None:
            stock_count(on_hand=data["set_on_hand"], seen_on_hand=data["seen_on_hand"], **common)
        else:
            stock_move(quantity=data["change_by"], **common)
        obj.refresh_from_db()

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A level comes with its first movement (an import, a channel's report, an order), never bare.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StockMovement)
class StockMovementAdmin(OrganizationScopedAdmin):
    organization_path = "sku__organization"
    list_display = (
        "created_at",
        "sku",
        "warehouse",
        "quantity",
        "on_hand_after",
        "reason",
        "reference",
        "note",
    )
    list_filter = ("reason", ("warehouse", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("sku", "warehouse")
    search_fields = ("sku__code", "reference", "note")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # The ledger is append-only: a level is the sum of its movements.


@admin.register(Reservation)
class ReservationAdmin(OrganizationScopedAdmin):
    """Read-only: reservations change with their orders (a level's reserved is their sum)."""

    organization_path = "sku__organization"
    list_display = ("reference", "sku", "warehouse", "quantity", "status", "created_at")
    list_filter = ("status", ("warehouse", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("sku", "warehouse")
    search_fields = ("reference", "sku__code")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
