"""Scheduled syncs, and healing what was lost: Redis down at "sync now", a job Redis dropped, a
run nothing works on any more, a supplier's server failing for a while."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from werkzeug.wrappers import Request, Response

from bench.feedgen import Feed
from catalog_sync.families import family_job_id
from catalog_sync.housekeeping import runs_sweep, suppliers_due
from catalog_sync.models import CatalogSyncRun, ProductFamily, RunMode, Supplier
from catalog_sync.pipeline import run_start
from channels_app.models import SyncStatus
from config.jobs import discard_job
from config.queues import get_queue, rq_queues
from tests.catalog_sync import factories as catalog
from tests.catalog_sync.conftest import QUEUES
from tests.catalog_sync.factories import make_supplier

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def feed(small_feed):
    return small_feed


def test_the_scheduler_starts_each_supplier_when_its_interval_has_passed(feed):
    due = make_supplier(feed, code="DUE")
    recent = make_supplier(feed, code="RECENT")
    Supplier.objects.filter(pk=make_supplier(feed, code="NEVER").pk).update(sync_interval_minutes=0)
    Supplier.objects.filter(pk=make_supplier(feed, code="OFF").pk).update(is_active=False)
    old = catalog.run(due, status=SyncStatus.SUCCEEDED)
    CatalogSyncRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    catalog.run(recent, status=SyncStatus.SUCCEEDED)

    assert suppliers_due() == 1

    run = CatalogSyncRun.objects.get(status=SyncStatus.QUEUED)
    assert run.supplier == due and run.requested_by == "scheduler" and run.mode == RunMode.QUEUED
    assert get_queue("catalog-supplier").job_ids == [run.job_id]
    assert suppliers_due() == 0  # it has a run now


def test_a_sync_asked_while_redis_is_down_is_recorded_and_the_sweep_enqueues_it(
    feed, run_worker, settings, caplog
):
    supplier = make_supplier(feed)
    real_queues = settings.RQ_QUEUES
    settings.RQ_QUEUES = rq_queues("redis://127.0.0.1:1/0", sentinels=[], sentinel_master="")
    get_queue.cache_clear()
    try:
        with transaction.atomic():
            run = run_start(supplier_id=supplier.pk)  # "Sync now" answers; the run is recorded
    finally:
        settings.RQ_QUEUES = real_queues
        get_queue.cache_clear()
    assert "ConnectionError" in caplog.text
    assert get_queue("catalog-supplier").count == 0
    CatalogSyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    assert runs_sweep() == {"runs_requeued": 1}
    assert runs_sweep() == {}  # its job is queued now: not twice
    run_worker(*QUEUES)

    assert CatalogSyncRun.objects.get(pk=run.pk).status == SyncStatus.SUCCEEDED


def test_a_family_job_redis_lost_is_enqueued_again_and_the_run_ends(feed, run_worker):
    supplier = make_supplier(feed)
    with transaction.atomic():
        run = run_start(supplier_id=supplier.pk)
    run_worker("catalog-supplier")
    lost = ProductFamily.objects.order_by("pk").first()
    discard_job(family_job_id(lost))  # Redis lost it
    run_worker(*QUEUES)
    assert CatalogSyncRun.objects.get(pk=run.pk).status == SyncStatus.RUNNING  # waits for the lost one
    CatalogSyncRun.objects.filter(pk=run.pk).update(active_at=timezone.now() - timedelta(minutes=5))

    assert runs_sweep() == {"families_requeued": 1}
    run_worker(*QUEUES)

    run = CatalogSyncRun.objects.get(pk=run.pk)
    assert run.status == SyncStatus.SUCCEEDED and run.families_done == 2


def test_a_run_nothing_works_on_is_closed_as_stalled_and_the_next_sync_starts_anew(feed, settings):
    supplier = make_supplier(feed)
    stalled = catalog.run(
        supplier,
        status=SyncStatus.RUNNING,
        enqueued_all=True,
        active_at=timezone.now() - timedelta(seconds=settings.CATALOG_RUN_STALL_SECONDS + 1),
    )

    assert runs_sweep()["stalled"] == 1

    stalled.refresh_from_db()
    assert stalled.status == SyncStatus.FAILED and stalled.error == "stalled: no job worked on it"
    with transaction.atomic():
        assert not run_start(supplier_id=supplier.pk).joined


def test_an_open_run_whose_job_is_gone_does_not_hold_back_a_new_sync(feed):
    supplier = make_supplier(feed)
    abandoned = catalog.run(supplier)  # QUEUED, no job anywhere
    CatalogSyncRun.objects.filter(pk=abandoned.pk).update(created_at=timezone.now() - timedelta(minutes=2))

    with transaction.atomic():
        run = run_start(supplier_id=supplier.pk)

    assert run.pk != abandoned.pk and not run.joined
    abandoned.refresh_from_db()
    assert abandoned.status == SyncStatus.FAILED and abandoned.error.startswith("abandoned")


def test_a_record_answering_503_then_200_is_fetched_with_backoff(httpserver, sync):
    feed = Feed(httpserver.url_for("/"), families=1, variants=1, images=1)
    failures = {"left": 2}

    def flaky(request: Request) -> Response:
        if request.path.startswith("/records/") and failures["left"]:
            failures["left"] -= 1
            return Response("busy", status=503, headers={"Retry-After": "0"})
        return feed.respond(request)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(flaky)
    supplier = make_supplier(feed)
    run = sync(supplier)

    assert run.status == SyncStatus.SUCCEEDED and run.error_count == 0 and run.products_created == 1
    assert feed.hits["/records/ART-00000-0.json"] == 1 and failures["left"] == 0


def test_a_supplier_server_that_is_down_fails_the_step_for_rq_to_retry_and_keeps_nothing_half_done(
    httpserver, sync, settings
):
    settings.HUB_JOB_RETRY_INTERVALS = []  # no retry in this test: the run ends FAILED at once
    feed = Feed(httpserver.url_for("/"), families=1, variants=2)
    httpserver.expect_request("/Import.txt").respond_with_data("down", status=502)
    supplier = make_supplier(feed)
    run = sync(supplier)

    assert run.status == SyncStatus.FAILED
    assert "answered 502 after 4 attempts" in run.error
    assert get_queue("catalog-supplier").failed_job_registry.count == 1


def test_a_run_whose_jobs_wait_behind_other_work_is_not_closed_as_stalled(feed, settings, run_worker):
    supplier = make_supplier(feed)
    with transaction.atomic():
        run = run_start(supplier_id=supplier.pk)
    run_worker("catalog-supplier")  # its families wait on catalog-family, behind other suppliers
    long_ago = timezone.now() - timedelta(seconds=settings.CATALOG_RUN_STALL_SECONDS + 1)
    CatalogSyncRun.objects.filter(pk=run.pk).update(active_at=long_ago)

    assert runs_sweep() == {}
    assert CatalogSyncRun.objects.get(pk=run.pk).status == SyncStatus.RUNNING
    with transaction.atomic():
        assert run_start(supplier_id=supplier.pk, requested_by="admin").joined  # not abandoned
    run_worker(*QUEUES)
    assert CatalogSyncRun.objects.get(pk=run.pk).status == SyncStatus.SUCCEEDED


def test_a_feed_on_the_hubs_own_network_is_refused(feed, sync, settings):
    settings.HUB_OUTBOUND_ALLOW_NETWORKS = []
    supplier = make_supplier(feed)
    run = sync(supplier)

    assert run.status == SyncStatus.FAILED
    assert "127.0.0.1 is a loopback address" in run.error
    assert feed.hits == {}  # nothing was asked of it


def test_redirects_are_followed_to_the_record(httpserver, sync):
    feed = Feed(httpserver.url_for("/"), families=1, variants=1, images=1)
    moved = "/records/ART-00000-0.json"
    feed.records["/cdn" + moved] = feed.records.pop(moved)
    index = feed.index().replace(b"/cdn" + moved.encode(), moved.encode())
    feed._index = index
    httpserver.expect_request(moved).respond_with_data("", status=302, headers={"Location": "/cdn" + moved})
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    supplier = make_supplier(feed)
    run = sync(supplier)

    assert run.status == SyncStatus.SUCCEEDED and run.products_created == 1 and run.error_count == 0
