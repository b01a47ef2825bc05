import re

import pytest
from django.db import transaction

from bench.feedgen import Feed
from catalog_sync.models import CatalogSyncRun, Supplier
from catalog_sync.pipeline import run_start

QUEUES = ("catalog-supplier", "catalog-family", "catalog-images")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Fetched images go to this test's own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def small_feed(httpserver):
    """Two families of two variants, each family with two images, served by the test server."""
    feed = Feed(httpserver.url_for("/"), families=2)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    return feed


@pytest.fixture
def sync(run_worker):
    """A queued run, worked through by burst workers on the three catalog queues."""

    def run(supplier: Supplier) -> CatalogSyncRun:
        with transaction.atomic():
            started = run_start(supplier_id=supplier.pk)
        run_worker(*QUEUES)
        return CatalogSyncRun.objects.get(pk=started.pk)

    return run
