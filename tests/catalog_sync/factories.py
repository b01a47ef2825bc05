"""Valid catalog rows: a supplier, its runs and its product families."""

from __future__ import annotations

from typing import Any

from bench.feedgen import Feed
from catalog_sync.models import CatalogSyncRun, ProductFamily, Supplier
from channels_app.models import Organization


def supplier(
    organization: Organization | None = None,
    code: str = "A360",
    *,
    feed_url: str = "https://feed.example/index.txt",
    **fields: Any,
) -> Supplier:
    """A supplier named by its code, of `organization` (Acme, made if it does not exist yet)."""
    if organization is None:
        organization, _ = Organization.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
    return Supplier.objects.create(
        organization=organization, code=code, name=code, feed_url=feed_url, **fields
    )


def run(supplier: Supplier, **fields: Any) -> CatalogSyncRun:
    """A run of `supplier`, QUEUED with no job unless `fields` say otherwise."""
    return CatalogSyncRun.objects.create(supplier=supplier, **fields)


def family(supplier: Supplier, family_key: str = "F1", **fields: Any) -> ProductFamily:
    return ProductFamily.objects.create(supplier=supplier, family_key=family_key, **fields)


def make_supplier(feed: Feed, slug: str = "acme", code: str = "A360") -> Supplier:
    """A supplier of `feed`, of the organization `slug` (made if it does not exist yet)."""
    organization, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
    return Supplier.objects.create(organization=organization, code=code, name=code, feed_url=feed.index_url)
