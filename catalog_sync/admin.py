from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from catalog_sync.images import images_retry
from catalog_sync.models import (
    CatalogSyncRun,
    FamilyChange,
    FamilyImage,
    ImageAsset,
    ImageStatus,
    ListingStatus,
    ProductFamily,
    ProductListing,
    Supplier,
)
from catalog_sync.pipeline import run_start
from catalog_sync.push import PUSH_JOB
from catalog_sync.queueing import enqueue_on_commit
from channels_app.access import OrganizationScopedAdmin
from config.progress import RefreshWhileRunning, progress_html


def run_progress(run: CatalogSyncRun) -> str:
    return progress_html(run.percent, run.step or run.get_status_display())


@admin.register(Supplier)
class SupplierAdmin(OrganizationScopedAdmin):
    list_display = ("code", "name", "organization", "last_run", "sync_interval_minutes", "is_active")
    list_filter = ("is_active",)
    list_select_related = ("organization",)
    search_fields = ("code", "name", "feed_url")
    exclude = ("credentials",)
    readonly_fields = ("recent_runs",)
    actions = ["sync_now"]

    @admin.display(description="Last run")
    def last_run(self, supplier: Supplier) -> str:
        run = supplier.runs.order_by("-created_at").first()
        if run is None:
            return "never"
        url = reverse("admin:catalog_sync_catalogsyncrun_change", args=[run.pk])
        return format_html("<a href='{}'>{}</a> {}", url, run.get_status_display(), run_progress(run))

    @admin.display(description="Recent runs")
    def recent_runs(self, supplier: Supplier) -> str:
        runs = supplier.runs.order_by("-created_at")[:5]
        return (
            format_html_join(
                "",
                "<div><a href='{}'>#{}</a> {} {} {}</div>",
                (
                    (
                        reverse("admin:catalog_sync_catalogsyncrun_change", args=[run.pk]),
                        run.pk,
                        run.created_at.strftime("%Y-%m-%d %H:%M"),
                        run.get_status_display(),
                        run_progress(run),
                    )
                    for run in runs
                ),
            )
            or "none yet"
        )

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Supplier]) -> None:
        with transaction.atomic():
            runs = [
                run_start(supplier_id=supplier.pk, requested_by=str(request.user))
                for supplier in queryset.filter(is_active=True)
            ]
        joined = sum(run.joined for run in runs)
        self.message_user(
            request,
            format_html(
                "{} started, {} already under way: <a href='{}'>see their progress</a>.",
                ngettext("%(n)d sync", "%(n)d syncs", len(runs) - joined) % {"n": len(runs) - joined},
                joined,
                reverse("admin:catalog_sync_catalogsyncrun_changelist"),
            ),
        )
        if queryset.filter(is_active=False).exists():
            self.message_user(request, "Inactive suppliers were not synced.", messages.WARNING)


class FamilyChangeInline(admin.TabularInline):
    model = FamilyChange
    verbose_name_plural = "history"
    fields = ("created_at", "action", "run", "what_changed")
    readonly_fields = fields
    ordering = ("-created_at",)
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="What changed")
    def what_changed(self, change: FamilyChange) -> str:
        lines: list[tuple[str, str]] = []
        for name, (before, after) in change.changes.get("product", {}).items():
            lines.append((f"product {name}", f"{before} → {after}"))
        for code, diff in change.changes.get("skus", {}).items():
            if diff == "added":
                lines.append((code, "added"))
                continue
            for name, (before, after) in diff.items():
                lines.append((f"{code} {name}", f"{before} → {after}"))
        if "images" in change.changes:
            images = change.changes["images"]
            lines.append(("images", f"{images['added']} added, {images['removed']} removed"))
        return format_html_join("", "<div><b>{}</b>: {}</div>", lines[:30]) or "-"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class FamilyImageInline(admin.TabularInline):
    model = FamilyImage
    fields = ("position", "preview", "source_url", "status", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="")
    def preview(self, image: FamilyImage) -> str:
        return thumbnail(image.asset)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def thumbnail(asset: ImageAsset | None) -> str:
    if asset is None:
        return ""
    url = reverse("admin:catalog_sync_imageasset_file", args=[asset.pk])
    return format_html("<img src='{}' style='max-height:48px;max-width:64px' alt=''>", url)


@admin.register(ProductFamily)
class ProductFamilyAdmin(OrganizationScopedAdmin):
    organization_path = "supplier__organization"
    list_display = ("family_key", "supplier", "product", "state", "updated_at")
    list_filter = (("supplier", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("supplier", "product")
    search_fields = ("family_key", "product__title", "records__data__sku")
    fields = ("supplier", "family_key", "product", "state", "content_hash", "applied_hash", "run", "error")
    readonly_fields = fields
    inlines = [FamilyChangeInline, FamilyImageInline]
    show_full_result_count = False

    @admin.display(description="State")
    def state(self, family: ProductFamily) -> str:
        if family.error:
            return "failed"
        return "written" if family.applied_hash == family.content_hash else "waiting"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        results, _ = super().get_search_results(request, queryset, search_term)
        # A family has several records, each of which may match: list the family once.
        return results.distinct(), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Families come from the supplier's feed, never from a form.


@admin.register(FamilyImage)
class FamilyImageAdmin(OrganizationScopedAdmin):
    """Images of families, failed ones first to retry once the supplier fixed them."""

    organization_path = "family__supplier__organization"
    list_display = ("preview", "source_url", "family", "status", "error", "attempts", "updated_at")
    list_filter = ("status",)
    list_select_related = ("family", "asset")
    search_fields = ("source_url", "family__family_key", "error")
    readonly_fields = [f.name for f in FamilyImage._meta.fields]
    actions = ["retry"]
    show_full_result_count = False

    @admin.display(description="")
    def preview(self, image: FamilyImage) -> str:
        return thumbnail(image.asset)

    @admin.action(description="Fetch the selected failed images again", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[FamilyImage]) -> None:
        with transaction.atomic():
            urls = images_retry(queryset.filter(status=ImageStatus.FAILED).values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(n)d image URL queued to be fetched again.",
                "%(n)d image URLs queued to be fetched again.",
                urls,
            )
            % {"n": urls},
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ImageAsset)
class ImageAssetAdmin(OrganizationScopedAdmin):
    organization_path = "family_images__family__supplier__organization"
    list_display = (
        "preview",
        "digest",
        "source_url",
        "content_type",
        "size",
        "width",
        "height",
        "created_at",
    )
    search_fields = ("=digest", "source_url")
    readonly_fields = ["preview", *(f.name for f in ImageAsset._meta.fields)]
    show_full_result_count = False

    @admin.display(description="")
    def preview(self, asset: ImageAsset) -> str:
        return thumbnail(asset)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImageAsset]:
        # One image can serve several families (and suppliers): list it once.
        return super().get_queryset(request).distinct()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.file_view)
        return [path("<int:pk>/file/", view, name="catalog_sync_imageasset_file"), *super().get_urls()]

    def file_view(self, request: HttpRequest, pk: int) -> FileResponse:
        """The stored file, to whoever may view the asset (media files are not served publicly)."""
        asset = self.get_queryset(request).filter(pk=pk).first()
        if asset is None or not self.has_view_permission(request, asset):
            raise Http404("no such image")
        response = FileResponse(asset.file.open("rb"), content_type=asset.content_type)
        response["Cache-Control"] = "private, max-age=86400"
        return response


@admin.register(ProductListing)
class ProductListingAdmin(OrganizationScopedAdmin):
    """Catalog products in the stores that take the catalog: pushed, failed (why), or skipped."""

    organization_path = "channel__organization"
    list_display = ("product", "channel", "status", "external_product_id", "error", "pushed_at")
    list_filter = ("status", ("channel", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("product", "channel")
    search_fields = ("product__title", "product__skus__code", "external_product_id", "error")
    readonly_fields = [f.name for f in ProductListing._meta.fields]
    actions = ["push_again"]
    show_full_result_count = False

    @admin.action(description="Push the selected products again", permissions=["change"])
    def push_again(self, request: HttpRequest, queryset: QuerySet[ProductListing]) -> None:
        with transaction.atomic():
            # Not the store's own listings (skipped), nor what the platform cannot take.
            listings = list(queryset.exclude(status__in=[ListingStatus.UNSUPPORTED, ListingStatus.SKIPPED]))
            ProductListing.objects.filter(pk__in=[x.pk for x in listings]).update(
                pushed_hash="", images_hash="", status=ListingStatus.PENDING, error=""
            )
            for listing in listings:
                enqueue_on_commit("catalog-push", PUSH_JOB, listing.pk, listing.job_id)
        n = len(listings)
        self.message_user(
            request,
            ngettext(
                "%(n)d product queued to be pushed again.", "%(n)d products queued to be pushed again.", n
            )
            % {"n": n},
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        results, _ = super().get_search_results(request, queryset, search_term)
        return results.distinct(), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(CatalogSyncRun)
class CatalogSyncRunAdmin(RefreshWhileRunning):
    organization_path = "supplier__organization"
    list_display = ("id", "supplier", "mode", "status", "progress", "summary", "started_at", "duration_s")
    list_filter = ("status", "mode", ("supplier", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("supplier",)
    search_fields = ("=id", "supplier__code", "error")
    fields = (
        "supplier",
        "mode",
        "status",
        "progress",
        "counter_table",
        "error_list",
        "error",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration_s",
    )
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="Progress")
    def progress(self, run: CatalogSyncRun) -> str:
        return run_progress(run)

    @admin.display(description="Families / images")
    def summary(self, run: CatalogSyncRun) -> str:
        images = ngettext("%(done)d of %(n)d image", "%(done)d of %(n)d images", run.images_total) % {
            "done": run.images_fetched + run.images_deduplicated,
            "n": run.images_total,
        }
        errors = ngettext("%(n)d error", "%(n)d errors", run.error_count) % {"n": run.error_count}
        return f"{run.families_changed} changed, {run.families_skipped} unchanged; {images}" + (
            f"; {errors}" if run.error_count else ""
        )

    @admin.display(description="Duration (s)")
    def duration_s(self, run: CatalogSyncRun) -> str:
        return f"{run.duration:.1f}" if run.duration is not None else "-"

    @admin.display(description="Counters")
    def counter_table(self, run: CatalogSyncRun) -> str:
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                "<tr><th>{}</th><td>{}</td></tr>",
                ((k.replace("_", " "), v) for k, v in run.counters().items()),
            ),
        )

    @admin.display(description="Malformed lines and records")
    def error_list(self, run: CatalogSyncRun) -> str:
        shown = run.errors[:200]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.get("line", ""), e.get("error", ""), e.get("url", "")) for e in shown),
        )
        more = f"... and {len(run.errors) - len(shown)} more" if len(run.errors) > len(shown) else ""
        if not shown:
            return "none"
        return format_html("<table><tr><th>line</th><th>error</th><th>URL</th></tr>{}</table>{}", rows, more)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Runs are started by "Sync now", `sync_supplier` and the scheduler.

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
