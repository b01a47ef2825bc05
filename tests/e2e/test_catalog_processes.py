"""The catalog pipeline with real worker processes: a worker killed in the middle of a family."""

from __future__ import annotations

import re
import time

import pytest
from django.db import connection, transaction

from bench.feedgen import Feed
from catalog_sync.families import family_job_id
from catalog_sync.housekeeping import runs_sweep
from catalog_sync.models import CatalogSyncRun, FamilyChange, ProductFamily, Supplier
from catalog_sync.pipeline import run_start
from channels_app.models import Organization, SyncStatus
from config.queues import get_queue
from inventory.models import SKU, Product
from tests.e2e.conftest import job_started, wait_for, waiting_for_locks, worker_blocked_mid_job

pytestmark = pytest.mark.e2e


def test_a_worker_killed_in_the_middle_of_a_family_leaves_no_half_written_product_and_the_retry_completes_it(
    processes, httpserver, tmp_path
):
    feed = Feed(httpserver.url_for("/"), families=1, variants=3, images=2)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    media = str(tmp_path / "media")
    organization = Organization.objects.create(name="Acme", slug="acme")
    supplier = Supplier.objects.create(
        organization=organization, code="A360", name="A360", feed_url=feed.index_url
    )
    with transaction.atomic():
        run = run_start(supplier_id=supplier.pk)
    assert (
        processes.worker("catalog-supplier", name="supplier", burst=True, MEDIA_ROOT=media).wait(timeout=60)
        == 0
    )
    family = ProductFamily.objects.get()
    job_id = family_job_id(family)
    assert get_queue("catalog-family").job_ids == [job_id]

    postgres = connection.vendor == "postgresql"
    # PostgreSQL: the family job has written the product, its SKUs, its history and its image links,
    # and waits for the run's row to count itself. SQLite: it waits at its transaction's start.
    with worker_blocked_mid_job("catalog_sync_catalogsyncrun"):
        worker = processes.worker("catalog-family", name="doomed", MEDIA_ROOT=media)
        wait_for(lambda: job_started(job_id))
        if postgres:
            wait_for(waiting_for_locks)
        else:
            time.sleep(1)
        processes.kill(worker)
        worker.wait()
    connection.close()

    assert not Product.objects.exists() and not SKU.objects.exists()  # nothing half-written
    assert not FamilyChange.objects.exists()
    family.refresh_from_db()
    assert family.applied_hash == "" and family.content_hash
    # rq would notice the dead worker only at its maintenance pass; the catalog sweep knows now.
    assert runs_sweep(idle_after=0) == {"families_requeued": 1}
    survivor = processes.worker(
        "catalog-family",
        "catalog-images",
        name="survivor",
        burst=True,
        MEDIA_ROOT=media,
    )
    assert survivor.wait(timeout=60) == 0

    run = CatalogSyncRun.objects.get(pk=run.pk)
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert (run.families_done, run.products_created, run.images_fetched) == (1, 1, 2)
    product = Product.objects.get()
    assert sorted(product.skus.values_list("code", flat=True)) == [
        "ART-00000-0",
        "ART-00000-1",
        "ART-00000-2",
    ]
    assert FamilyChange.objects.count() == 1
