from django.contrib import admin
from django.http import HttpRequest

from channels_app.access import OrganizationScopedAdmin, OrganizationScopedInline
from inventory.models import SKU, ChannelVariant, Product, Reservation, StockLevel, StockMovement, Warehouse


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
    list_display = ("code", "title", "organization", "product")
    list_filter = (("organization", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("organization", "product")
    search_fields = ("code", "title", "channel_variants__external_variant_id")
    raw_id_fields = ("product",)
    inlines = [ChannelVariantInline]


@admin.register(StockLevel)
class StockLevelAdmin(OrganizationScopedAdmin):
    organization_path = "sku__organization"
    list_display = ("sku", "warehouse", "on_hand", "reserved", "available", "updated_at")
    list_filter = (("warehouse", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("sku", "warehouse")
    search_fields = ("sku__code", "warehouse__code")
    readonly_fields = (
        "sku",
        "warehouse",
        "on_hand",
        "reserved",
        "channel_reported_at",
        "updated_at",
        "ledger",
    )

    @admin.display(description="Ledger (newest first)")
    def ledger(self, level: StockLevel) -> str:
        rows = StockMovement.objects.filter(sku=level.sku, warehouse=level.warehouse).order_by("-pk")[:50]
        return (
            "\n".join(
                f"{m.created_at:%Y-%m-%d %H:%M} {m.quantity:+d} = {m.on_hand_after} {m.reason} {m.reference}"
                for m in rows
            )
            or "-"
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Levels change through the ledger (import_stock, channel reports, orders), never by hand.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StockMovement)
class StockMovementAdmin(OrganizationScopedAdmin):
    organization_path = "sku__organization"
    list_display = ("created_at", "sku", "warehouse", "quantity", "on_hand_after", "reason", "reference")
    list_filter = ("reason", ("warehouse", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("sku", "warehouse")
    search_fields = ("sku__code", "reference")
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
