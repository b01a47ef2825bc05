"""What catalog_sync's failed jobs were for, for the ops console's failed-jobs page (named by
dotted path in config.ops.failed_jobs.SUBJECTS)."""

from collections.abc import Iterable

from django.urls import reverse

from catalog_sync.models import CatalogSyncRun, FamilyImage, ProductFamily
from config.ops.failed_jobs import Subject


def run_job_subjects(run_ids: Iterable[object]) -> dict[object, Subject]:
    """What supplier-step jobs were for (the failed-jobs page): their run and supplier."""
    runs = CatalogSyncRun.objects.filter(pk__in=[pk for pk in run_ids if isinstance(pk, int)]).select_related(
        "supplier"
    )
    return {
        run.pk: Subject(
            links=(
                (str(run), reverse("admin:catalog_sync_catalogsyncrun_change", args=[run.pk])),
                (str(run.supplier), reverse("admin:catalog_sync_supplier_change", args=[run.supplier_id])),
            ),
            search_terms=(run.supplier.code, run.supplier.name),
        )
        for run in runs
    }


def family_job_subjects(family_ids: Iterable[object]) -> dict[object, Subject]:
    """What family jobs were for: the family and its supplier."""
    families = ProductFamily.objects.filter(
        pk__in=[pk for pk in family_ids if isinstance(pk, int)]
    ).select_related("supplier")
    return {
        family.pk: Subject(
            links=(
                (
                    f"family {family.family_key}",
                    reverse("admin:catalog_sync_productfamily_change", args=[family.pk]),
                ),
                (
                    str(family.supplier),
                    reverse("admin:catalog_sync_supplier_change", args=[family.supplier_id]),
                ),
            ),
            search_terms=(family.family_key, family.supplier.code),
        )
        for family in families
    }


def image_job_subjects(urls: Iterable[object]) -> dict[object, Subject]:
    """What image jobs were for: the families that list the URL."""
    rows = FamilyImage.objects.filter(
        source_url__in=[url for url in urls if isinstance(url, str)]
    ).select_related("family__supplier")
    subjects: dict[object, Subject] = {}
    for row in rows:
        links = subjects[row.source_url].links if row.source_url in subjects else ()
        link = (
            f"family {row.family.family_key}",
            reverse("admin:catalog_sync_productfamily_change", args=[row.family_id]),
        )
        subjects[row.source_url] = Subject(
            links=(*links, link)[:5],
            search_terms=(row.source_url, row.family.family_key, row.family.supplier.code),
        )
    return subjects
