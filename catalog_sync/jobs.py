"""The catalog's RQ jobs: thin entry points into the catalog's modules, taking plain values.

RQ stores a job by dotted path ("catalog_sync.jobs.apply_family") and failed jobs are retried by
name days later, so a function here keeps its name and arguments; what it calls may move.
"""

from __future__ import annotations

from typing import Any

from catalog_sync import families, housekeeping, images, push, supplier


def sync_supplier(run_id: int) -> dict[str, Any]:
    """catalog-supplier: a run's supplier step, which enqueues the families that changed."""
    run = supplier.supplier_job(run_id)
    return {"run": run.pk, "status": run.status, **run.counters()}


def apply_family(family_id: int) -> dict[str, Any]:
    """catalog-family: write one family's product and SKUs; enqueue its images."""
    return {"family": family_id, "images_enqueued": len(families.family_job(family_id))}


def fetch_image(url: str) -> str:
    """catalog-images: fetch and store one image URL, for every family waiting for it."""
    return images.image_job(url)


def sync_suppliers() -> int:
    """housekeeping: start the scheduled runs that are due."""
    return housekeeping.suppliers_due()


def sweep_catalog() -> dict[str, int]:
    """housekeeping: re-enqueue lost jobs of open runs and product pushes; close stalled runs."""
    return housekeeping.runs_sweep() | {
        "images_requeued_for_no_run": housekeeping.loose_images_sweep(),
        "pushes_requeued": push.listings_sweep(),
    }


def push_listing(listing_id: int) -> str:
    """catalog-push: send a catalog product to one store that takes the catalog."""
    return push.listing_push(listing_id)


def push_catalog(channel_id: int) -> int:
    """catalog-push: every catalog product to a channel that just turned the catalog on."""
    return push.channel_push_all(channel_id)
