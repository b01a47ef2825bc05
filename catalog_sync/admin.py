from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog_sync.models import CatalogSyncRun, ImageAsset, ProductFamily, Supplier
from channels_app.access import OrganizationScopedAdmin


@admin.register(Supplier)
class SupplierAdmin(OrganizationScopedAdmin):
    list_display = ("code", "name", "organization", "feed_url", "sync_interval_minutes", "is_active")
    list_filter = ("is_active",)
    list_select_related = ("organization",)
    search_fields = ("code", "name", "feed_url")
    exclude = ("credentials",)


@admin.register(ProductFamily)
class ProductFamilyAdmin(OrganizationScopedAdmin):
    organization_path = "supplier__organization"
    list_display = ("family_key", "supplier", "product", "updated_at")
    list_filter = (("supplier", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("supplier", "product")
    search_fields = ("family_key", "product__title")
    raw_id_fields = ("product",)
    show_full_result_count = False


@admin.register(ImageAsset)
class ImageAssetAdmin(OrganizationScopedAdmin):
    organization_path = "families__supplier__organization"
    list_display = ("digest", "source_url", "content_type", "size", "width", "height", "created_at")
    search_fields = ("=digest", "source_url")
    readonly_fields = [f.name for f in ImageAsset._meta.fields]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImageAsset]:
        # One image can serve several families (and suppliers): list it once.
        return super().get_queryset(request).distinct()


@admin.register(CatalogSyncRun)
class CatalogSyncRunAdmin(OrganizationScopedAdmin):
    organization_path = "supplier__organization"
    list_display = ("id", "supplier", "mode", "status", "step", "percent", "started_at", "finished_at")
    list_filter = ("status", "mode", ("supplier", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("supplier",)
    search_fields = ("=id", "supplier__code", "error")
    readonly_fields = [f.name for f in CatalogSyncRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
