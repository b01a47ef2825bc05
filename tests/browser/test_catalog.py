"""A merchant syncs a supplier's catalog from the admin and follows it to its end."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from bench.feedgen import Feed, png
from catalog_sync.models import CatalogSyncRun, Supplier
from channels_app.models import Organization, SyncStatus
from tests.catalog_sync.conftest import QUEUES


def test_a_merchant_syncs_a_supplier_and_sees_the_run_its_counters_and_a_familys_history(
    page, live_server, log_in, staff, run_worker, screenshot, httpserver, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    feed = Feed(httpserver.url_for("/"), families=3, variants=2, images=2)
    for number, path in enumerate(feed.images, start=1):
        feed.images[path] = png(number * 40, size=(96, 72))  # big enough to see in the screenshots
    feed.broken["/images/4.png"] = 404
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    organization = Organization.objects.create(name="Acme", slug="acme")
    Supplier.objects.create(
        organization=organization, code="A360", name="A360 Promo", feed_url=feed.index_url
    )
    staff("wile", "--org", "acme")
    log_in(page, "wile")

    page.goto(f"{live_server.url}/admin/catalog_sync/supplier/")
    page.check("#result_list tbody input[type=checkbox]")
    page.select_option("select[name=action]", "sync_now")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("1 sync started")
    page.click(".messagelist a")  # "see their progress"
    expect(page.locator("#result_list")).to_contain_text("Queued")

    run_worker(*QUEUES)
    run = CatalogSyncRun.objects.get()
    assert run.status == SyncStatus.SUCCEEDED
    page.goto(f"{live_server.url}/admin/catalog_sync/catalogsyncrun/{run.pk}/change/")
    expect(page.locator(".field-counter_table")).to_contain_text("products created")
    expect(page.locator(".field-progress")).to_contain_text("100%")
    screenshot("catalog-run")

    page.goto(f"{live_server.url}/admin/catalog_sync/familyimage/?status__exact=failed")
    expect(page.locator("#result_list")).to_contain_text("answered 404")
    page.goto(f"{live_server.url}/admin/catalog_sync/productfamily/")
    page.locator("#result_list a", has_text="ART-00001").click()
    expect(page.locator("body")).to_contain_text("ART-00001-1")
    expect(page.locator("img[src*='/file/']").first).to_be_visible()
    screenshot("catalog-family")
