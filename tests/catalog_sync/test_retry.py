"""A failed catalog run retried from the ops console's failed-jobs page: the retry brings the sync
back (the run reopened, or a new one started) and says so, and a real worker finishes it."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from bench.feedgen import Feed
from catalog_sync.models import CatalogSyncRun, Supplier
from channels_app.models import Organization, SyncStatus
from config.queues import get_queue
from inventory.models import Product

pytestmark = pytest.mark.django_db(transaction=True)
QUEUES = ("catalog-supplier", "catalog-family", "catalog-images")


@pytest.fixture
def ops_client(client):
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="django_rq", codename="admin"))
    client.force_login(user)
    return client


@pytest.fixture
def feed(httpserver):
    return Feed(httpserver.url_for("/"), families=2, variants=2, images=0)


@pytest.fixture
def failed_run(httpserver, feed, sync, settings):
    """A run whose supplier's server was down: FAILED, its job in the failed registry; the server
    is back up since."""
    settings.HUB_JOB_RETRY_INTERVALS = []
    httpserver.expect_request("/Import.txt").respond_with_data("down", status=502)
    organization = Organization.objects.create(slug="acme", name="Acme")
    supplier = Supplier.objects.create(organization=organization, code="A", name="A", feed_url=feed.index_url)
    run = sync(supplier)
    assert run.status == SyncStatus.FAILED
    assert get_queue("catalog-supplier").failed_job_registry.get_job_ids() == [run.job_id]
    httpserver.clear()
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    return run


def retry_from_the_page(client, job_id: str) -> str:
    response = client.post(
        reverse("admin:django_rq_failed_all"),
        {"action": "retry", "scope": "selected", "confirmed": "1", "job": [f"catalog-supplier:{job_id}"]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def test_retrying_a_failed_runs_job_reopens_the_run_and_a_worker_finishes_it(
    ops_client, failed_run, run_worker
):
    page = retry_from_the_page(ops_client, failed_run.job_id)

    assert f"Retried 1 of 1 failed job; reopened catalog run #{failed_run.pk}." in page
    assert CatalogSyncRun.objects.get(pk=failed_run.pk).status == SyncStatus.QUEUED
    run_worker(*QUEUES)
    run = CatalogSyncRun.objects.get(pk=failed_run.pk)
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert (run.products_created, run.error) == (2, "")
    assert CatalogSyncRun.objects.count() == 1 and Product.objects.count() == 2
    assert get_queue("catalog-supplier").failed_job_registry.count == 0


def test_a_run_that_had_handed_out_its_families_is_followed_by_a_new_run(ops_client, failed_run, run_worker):
    CatalogSyncRun.objects.filter(pk=failed_run.pk).update(enqueued_all=True)

    page = retry_from_the_page(ops_client, failed_run.job_id)

    new = CatalogSyncRun.objects.exclude(pk=failed_run.pk).get()
    assert f"Retried 1 of 1 failed job; started catalog run #{new.pk}" in page
    assert new.requested_by == "ops"
    assert get_queue("catalog-supplier").failed_job_registry.count == 0  # not run again: the new run's job is
    run_worker(*QUEUES)
    assert CatalogSyncRun.objects.get(pk=new.pk).status == SyncStatus.SUCCEEDED
    assert CatalogSyncRun.objects.get(pk=failed_run.pk).status == SyncStatus.FAILED  # as it ended
    assert Product.objects.count() == 2


def test_a_retry_while_another_run_of_the_supplier_is_open_joins_that_run(ops_client, failed_run, run_worker):
    open_run = CatalogSyncRun.objects.create(supplier_id=failed_run.supplier_id)  # just requested

    page = retry_from_the_page(ops_client, failed_run.job_id)

    assert f"Retried 1 of 1 failed job; catalog run #{open_run.pk} was under way already." in page
    assert CatalogSyncRun.objects.get(pk=failed_run.pk).status == SyncStatus.FAILED
    assert CatalogSyncRun.objects.count() == 2
