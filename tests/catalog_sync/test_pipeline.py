"""Supplier catalog sync end to end: a generated feed and its images served over HTTP, the three
queues run by real burst workers (or --direct), results read from the database and storage."""

from __future__ import annotations

import json
import re
import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction

from bench.feedgen import Feed
from catalog_sync.images import images_retry
from catalog_sync.models import (
    CatalogSyncRun,
    ChangeAction,
    FamilyImage,
    ImageAsset,
    ImageStatus,
    ProductFamily,
    RunMode,
)
from catalog_sync.pipeline import run_start
from channels_app.models import SyncStatus
from config.queues import get_queue
from inventory.models import SKU, Product
from tests.catalog_sync.conftest import QUEUES
from tests.catalog_sync.factories import make_supplier

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def feed(httpserver):
    feed = Feed(httpserver.url_for("/"))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    return feed


@pytest.fixture
def supplier(feed):
    return make_supplier(feed)


def test_a_first_run_creates_every_product_sku_and_image(feed, supplier, sync):
    run = sync(supplier)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert run.counters() == {
        "variants_seen": 6,
        "records_fetched": 6,
        "records_removed": 0,
        "families_changed": 3,
        "families_skipped": 0,
        "families_done": 3,
        "families_failed": 0,
        "products_created": 3,
        "products_updated": 0,
        "images_total": 6,
        "images_fetched": 6,
        "images_deduplicated": 0,
        "images_failed": 0,
        "errors": 0,
    }
    assert run.percent == 100 and run.finished_at is not None
    product = Product.objects.get(families__family_key="ART-00001")
    assert product.title == "Mug ART-00001"  # the family's, not its first variant's name
    assert product.description == "A mug of family ART-00001."
    skus = {s.code: s for s in product.skus.all()}
    assert set(skus) == {"ART-00001-0", "ART-00001-1"}
    assert skus["ART-00001-1"].price == Decimal("11.50") and skus["ART-00001-1"].currency == "EUR"
    assert skus["ART-00001-1"].attributes == {"size": "1"}
    family = ProductFamily.objects.get(family_key="ART-00001")
    assert family.applied_hash == family.content_hash != ""
    assert [c.action for c in family.changes.all()] == [ChangeAction.CREATED]
    images = list(family.images.order_by("position"))
    assert [i.source_url for i in images] == [feed.url("/images/3.png"), feed.url("/images/4.png")]
    assert all(i.status == ImageStatus.STORED for i in images)
    asset = images[0].asset
    assert (asset.width, asset.height, asset.content_type) == (4, 3, "image/png")
    assert default_storage.open(asset.file.name).read() == feed.images["/images/3.png"]
    assert feed.fetched() == 6 and feed.image_hits() == 6


def test_an_unchanged_feed_fetches_no_record_and_no_image_and_says_what_it_skipped(
    feed, supplier, sync, django_assert_max_num_queries
):
    sync(supplier)
    feed.hits.clear()

    run = sync(supplier)

    assert run.status == SyncStatus.SUCCEEDED
    assert feed.hits == {"/Import.txt": 1}  # the index, and nothing else
    assert (run.variants_seen, run.families_changed, run.families_skipped) == (6, 0, 3)
    assert (run.products_created, run.products_updated, run.images_total) == (0, 0, 0)
    assert ProductFamily.objects.filter(changes__action=ChangeAction.UPDATED).count() == 0
    assert get_queue("catalog-family").finished_job_registry.count == 3  # the first run's only


def test_a_changed_price_in_one_family_updates_only_that_family(feed, supplier, sync):
    sync(supplier)
    feed.hits.clear()
    path = "/records/ART-00002-1.json"
    feed.change(path, price="99.90")

    run = sync(supplier)

    assert feed.fetched() == 1 and feed.hits[path] == 1
    assert (run.families_changed, run.families_skipped, run.products_updated, run.products_created) == (
        1,
        2,
        1,
        0,
    )
    assert feed.image_hits() == 0 and run.images_total == 0
    assert SKU.objects.get(code="ART-00002-1").price == Decimal("99.9000")
    family = ProductFamily.objects.get(family_key="ART-00002")
    change = family.changes.get(action=ChangeAction.UPDATED)
    assert change.run_id == run.pk
    assert change.changes == {"skus": {"ART-00002-1": {"price": ["12.5000", "99.9000"]}}}
    assert not ProductFamily.objects.exclude(pk=family.pk).filter(changes__run=run).exists()


def test_a_supplier_rehashing_an_unchanged_record_costs_a_fetch_but_writes_nothing(feed, supplier, sync):
    sync(supplier)
    feed.change("/records/ART-00000-0.json", supplier_extra={"ignored": "again"})  # new HASH, same data

    run = sync(supplier)

    assert (run.records_fetched, run.families_changed, run.families_skipped) == (1, 0, 3)


def test_an_image_shared_by_two_families_and_two_urls_of_one_picture_are_stored_once(httpserver, sync):
    feed = Feed(httpserver.url_for("/"), families=2, variants=2, images=1, shared_image=True)
    feed.images["/images/copy.png"] = feed.images["/images/1.png"]  # same bytes, another URL
    feed.change(
        "/records/ART-00001-1.json", images=[feed.url("/images/shared.png"), feed.url("/images/copy.png")]
    )
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)

    run = sync(make_supplier(feed))

    assert run.status == SyncStatus.SUCCEEDED
    assert feed.hits["/images/shared.png"] == 1  # fetched once for both families
    assert ImageAsset.objects.count() == 3  # 1.png (= copy.png), 2.png, shared.png
    assert run.images_total == 5 and run.images_fetched == 3 and run.images_deduplicated == 2
    shared = ImageAsset.objects.get(source_url=feed.url("/images/shared.png"))
    assert shared.family_images.count() == 2
    copy = FamilyImage.objects.get(source_url=feed.url("/images/copy.png"))
    assert copy.asset.source_url == feed.url("/images/1.png")
    stored = default_storage.listdir("catalog/images")[0]
    assert sum(len(default_storage.listdir(f"catalog/images/{d}")[1]) for d in stored) == 3


def test_a_missing_image_and_a_malformed_record_are_reported_and_the_run_succeeds(feed, supplier, sync):
    feed.broken["/images/2.png"] = 404
    feed.raw["/records/ART-00001-0.json"] = b'{"family": "ART-00001", "sku": "X", "name": "no price"}'
    feed.raw["/records/ART-00002-0.json"] = b"<html>oops</html>"
    out = StringIO()

    call_command("sync_supplier", "A360", "--direct", "--json", stdout=out, stderr=StringIO())

    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["status"] == "succeeded"
    assert result["errors"] == 3 and result["images_failed"] == 1
    assert result["products_created"] == 3  # the other variants of those families are written
    run = CatalogSyncRun.objects.get()
    lines = {e["line"]: e for e in run.errors}
    index = feed.index().decode().splitlines()
    number = next(n for n, line in enumerate(index, 1) if "ART-00001-0.json" in line)
    assert lines[number]["error"] == "`price` is missing or not a decimal string"
    assert lines[number]["url"] == feed.url("/records/ART-00001-0.json")
    assert any(e["error"].startswith("not JSON") for e in run.errors)
    failed = FamilyImage.objects.get(status=ImageStatus.FAILED)
    assert failed.source_url == feed.url("/images/2.png") and "404" in failed.error
    assert not SKU.objects.filter(code="X").exists()

    # The supplier fixes its server; ops retry the image from the admin's list of failed images.
    del feed.broken["/images/2.png"]
    assert images_retry([failed.pk]) == 1


def test_failed_images_retried_from_the_admin_are_fetched_by_a_worker(feed, supplier, sync, run_worker):
    feed.broken["/images/2.png"] = 404
    sync(supplier)
    failed = FamilyImage.objects.get(status=ImageStatus.FAILED)
    del feed.broken["/images/2.png"]

    with transaction.atomic():
        images_retry([failed.pk])
    run_worker("catalog-images")

    failed.refresh_from_db()
    assert failed.status == ImageStatus.STORED and failed.asset is not None


def test_a_malformed_record_is_fetched_again_next_time_and_applied_once_fixed(feed, supplier, sync):
    feed.raw["/records/ART-00001-0.json"] = b'{"family": "ART-00001"}'
    first = sync(supplier)
    assert first.error_count == 1 and not SKU.objects.filter(code="ART-00001-0").exists()
    del feed.raw["/records/ART-00001-0.json"]
    feed._index = None

    second = sync(supplier)

    assert second.error_count == 0 and second.families_changed == 1
    assert SKU.objects.get(code="ART-00001-0").product == Product.objects.get(
        families__family_key="ART-00001"
    )


def test_oversized_and_non_image_files_are_refused(feed, supplier, sync, settings):
    settings.CATALOG_IMAGE_MAX_BYTES = 200
    feed.images["/images/1.png"] = b"\x89PNG" + b"0" * 500
    feed.images["/images/2.png"] = b"<html>not an image</html>"

    run = sync(supplier)

    errors = dict(FamilyImage.objects.filter(status=ImageStatus.FAILED).values_list("source_url", "error"))
    assert errors[feed.url("/images/1.png")] == "504 bytes, over the limit of 200"
    assert errors[feed.url("/images/2.png")].startswith("not an image")
    assert run.status == SyncStatus.SUCCEEDED and run.images_failed == 2


def test_records_gone_from_the_index_are_forgotten_and_counted(feed, supplier, sync):
    sync(supplier)
    del feed.records["/records/ART-00000-1.json"]
    feed._index = None

    run = sync(supplier)

    assert run.records_removed == 1 and run.variants_seen == 5
    assert SKU.objects.filter(code="ART-00000-1").exists()  # the SKU stays, with its stock history


def test_direct_and_queued_runs_give_the_same_results(httpserver, sync):
    feed = Feed(httpserver.url_for("/"), families=4, variants=3, images=2, shared_image=True)
    feed.broken["/images/5.png"] = 404
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    queued = sync(make_supplier(feed, "queued-org"))
    make_supplier(feed, "direct-org")
    out = StringIO()

    call_command(
        "sync_supplier", "A360", "--org", "direct-org", "--direct", "--json", stdout=out, stderr=StringIO()
    )

    direct = json.loads(out.getvalue().strip().splitlines()[-1])
    assert direct.pop("status") == "succeeded" and direct.pop("run") != queued.pk
    # The second organization's images were stored by the first's run: same content, same asset.
    expected = queued.counters()
    images = (expected["images_fetched"], expected["images_deduplicated"], expected["images_failed"])
    assert images == (8, 3, 1)
    assert direct.pop("images_deduplicated") == 11 and direct.pop("images_fetched") == 0
    expected.pop("images_deduplicated"), expected.pop("images_fetched")
    assert direct == expected

    def catalog(slug: str) -> list[tuple[object, ...]]:
        return sorted(
            SKU.objects.filter(organization__slug=slug).values_list(
                "code", "title", "price", "currency", "attributes", "product__title"
            )
        )

    assert catalog("direct-org") == catalog("queued-org") and len(catalog("direct-org")) == 12


def test_two_sync_requests_while_one_is_under_way_make_one_run(feed, supplier, run_worker):
    with transaction.atomic():
        first = run_start(supplier_id=supplier.pk)
    with transaction.atomic():
        second = run_start(supplier_id=supplier.pk, requested_by="admin")
    assert second.pk == first.pk and second.joined
    assert get_queue("catalog-supplier").count == 1
    run_worker(*QUEUES)
    assert CatalogSyncRun.objects.get().status == SyncStatus.SUCCEEDED


def test_the_command_follows_a_queued_run_to_its_end(feed, supplier, run_worker):
    out = StringIO()
    command = threading.Thread(
        target=call_command,
        args=("sync_supplier", "A360", "--json"),
        kwargs={"stdout": out, "stderr": StringIO()},
    )
    command.start()
    queue = get_queue("catalog-supplier")
    for _ in range(100):
        if queue.count:
            break
        command.join(0.05)
    run_worker(*QUEUES)
    command.join(10)

    assert not command.is_alive()
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["run"] == CatalogSyncRun.objects.get(mode=RunMode.QUEUED).pk
    assert (result["status"], result["families_changed"], result["products_created"]) == ("succeeded", 3, 3)


def test_records_the_database_could_not_hold_are_reported_not_fatal(feed, supplier, sync):
    feed.raw["/records/ART-00000-0.json"] = b'{"family": "ART-00000", "sku": "A", "name": "x", "price": NaN}'
    feed.raw["/records/ART-00000-1.json"] = (
        b'{"family": "ART-00000", "sku": "B", "name": "nul \\u0000 here", "price": "1.00"}'
    )
    long_url = feed.url("/records/" + "x" * 1000 + ".json")
    feed._index = (
        feed.index() + f"{long_url}|abc\n".encode() + f"{feed.url('/r.json')}|{'h' * 201}\n".encode()
    )

    run = sync(supplier)

    assert run.status == SyncStatus.SUCCEEDED and run.products_created == 2
    messages = sorted(e["error"] for e in run.errors)
    assert messages == [
        "URL over 1000 or HASH over 200 characters",
        "URL over 1000 or HASH over 200 characters",
        "holds a NUL character (\\u0000), which no text field can store",
        "not JSON: NaN is not a JSON value",
    ]


def test_a_family_whose_sku_another_suppliers_family_owns_fails_with_the_reason(httpserver, sync):
    first = Feed(httpserver.url_for("/a/"), families=1, variants=1, images=0)
    second = Feed(httpserver.url_for("/b/"), families=1, variants=1, images=0)
    second.change("/records/ART-00000-0.json", family="OTHER-1", name="Their mug")
    httpserver.expect_request(re.compile("^/a/.*")).respond_with_handler(
        lambda request: first.respond(_strip(request, "/a"))
    )
    httpserver.expect_request(re.compile("^/b/.*")).respond_with_handler(
        lambda request: second.respond(_strip(request, "/b"))
    )
    assert sync(make_supplier(first, code="FIRST")).products_created == 1

    run = sync(make_supplier(second, code="SECOND"))

    assert run.status == SyncStatus.SUCCEEDED and run.families_failed == 1 and run.error_count == 1
    family = ProductFamily.objects.get(family_key="OTHER-1")
    assert family.error == "SKU ART-00000-0 belongs to the product of family ART-00000 of supplier FIRST"
    assert SKU.objects.get(code="ART-00000-0").title == "Mug ART-00000 size 0"  # untouched


def _strip(request, prefix: str):
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    return Request(EnvironBuilder(path=request.path.removeprefix(prefix)).get_environ())


def test_a_truncated_file_left_by_a_killed_worker_is_not_taken_for_the_image(feed, supplier, sync):
    import hashlib

    from django.core.files.base import ContentFile

    content = feed.images["/images/1.png"]
    digest = hashlib.sha256(content).hexdigest()
    default_storage.save(f"catalog/images/{digest[:2]}/{digest}.png", ContentFile(content[:20]))

    sync(supplier)

    asset = ImageAsset.objects.get(digest=digest)
    assert default_storage.open(asset.file.name).read() == content
