"""The catalog in the admin, as a merchant uses it: sync now, a run's progress, a family's
history, failed images retried, stored images shown only to their organization."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from catalog_sync.models import CatalogSyncRun, FamilyImage, ImageAsset, ImageStatus, ProductFamily
from channels_app.models import Organization, SyncStatus
from config.queues import get_queue
from tests.catalog_sync.conftest import QUEUES
from tests.catalog_sync.factories import make_supplier

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def feed(small_feed):
    return small_feed


@pytest.fixture
def merchant(client, feed):
    supplier = make_supplier(feed)
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", supplier.organization.slug)
    client.force_login(User.objects.get(username="wile"))
    client.supplier = supplier
    return client


def sync_now(client, supplier):
    return client.post(
        reverse("admin:catalog_sync_supplier_changelist"),
        {"action": "sync_now", "_selected_action": [supplier.pk]},
        follow=True,
    )


def test_sync_now_queues_one_run_and_a_second_click_joins_it(merchant):
    page = sync_now(merchant, merchant.supplier).content.decode()
    assert "1 sync started, 0 already under way" in page
    page = sync_now(merchant, merchant.supplier).content.decode()
    assert "0 syncs started, 1 already under way" in page
    run = CatalogSyncRun.objects.get()
    assert run.status == SyncStatus.QUEUED and run.requested_by == "wile"
    assert get_queue("catalog-supplier").job_ids == [run.job_id]
    runs = merchant.get(reverse("admin:catalog_sync_catalogsyncrun_changelist")).content.decode()
    assert 'data-running="true"' in runs  # its cells update in place while the run is open
    assert "<progress max='100' value='0'" in runs


def test_a_finished_run_shows_its_counters_and_the_family_its_history(merchant, feed, run_worker):
    sync_now(merchant, merchant.supplier)
    run_worker(*QUEUES)
    feed.change("/records/ART-00001-0.json", price="42.00")
    sync_now(merchant, merchant.supplier)
    run_worker(*QUEUES)

    run = CatalogSyncRun.objects.order_by("-pk").first()
    page = merchant.get(reverse("admin:catalog_sync_catalogsyncrun_change", args=[run.pk])).content.decode()
    assert "refresh" not in page and "value='100'" in page
    assert "<th>families skipped</th><td>1</td>" in page
    family = ProductFamily.objects.get(family_key="ART-00001")
    page = merchant.get(reverse("admin:catalog_sync_productfamily_change", args=[family.pk])).content.decode()
    assert "<b>ART-00001-0 price</b>: 11.5000 → 42.0000" in page
    assert "<b>ART-00001-1</b>: added" in page  # the first run's entry
    assert reverse("admin:catalog_sync_imageasset_file", args=[family.images.first().asset_id]) in page


def test_failed_images_are_listed_and_retried(merchant, feed, run_worker):
    feed.broken["/images/1.png"] = 404
    sync_now(merchant, merchant.supplier)
    run_worker(*QUEUES)
    failed = FamilyImage.objects.get(status=ImageStatus.FAILED)
    listing = merchant.get(reverse("admin:catalog_sync_familyimage_changelist") + "?status__exact=failed")
    assert "answered 404" in listing.content.decode()
    del feed.broken["/images/1.png"]

    page = merchant.post(
        reverse("admin:catalog_sync_familyimage_changelist"),
        {"action": "retry", "_selected_action": [failed.pk]},
        follow=True,
    ).content.decode()
    run_worker("catalog-images")

    assert "1 image URL queued to be fetched again" in page
    failed.refresh_from_db()
    assert failed.status == ImageStatus.STORED


def test_a_stored_image_is_served_to_its_organization_only(merchant, feed, run_worker, client):
    sync_now(merchant, merchant.supplier)
    run_worker(*QUEUES)
    asset = ImageAsset.objects.get(source_url=feed.url("/images/1.png"))
    url = reverse("admin:catalog_sync_imageasset_file", args=[asset.pk])
    response = merchant.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == feed.images["/images/1.png"]

    Organization.objects.create(name="Globex", slug="globex")
    call_command("create_staff", "coyote", "--password", "pw-123-xyz", "--org", "globex")
    merchant.force_login(User.objects.get(username="coyote"))
    assert merchant.get(url).status_code == 404
