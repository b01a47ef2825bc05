"""Product import and connection checks against a local server speaking Shopify's GraphQL API;
the sync runs every platform shares are tested here, with Shopify as their platform."""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command
from django.urls import reverse
from werkzeug import Response

from channels_app import http
from channels_app.models import SyncRun, SyncStatus
from channels_app.sync import sync_start
from inventory.models import SKU, ChannelVariant, Product
from tests.channels_app import factories
from tests.platforms import shopify_cost, shopify_graphql_path

pytestmark = pytest.mark.django_db

GRAPHQL = shopify_graphql_path()


def cost(available=980.0, requested=302, maximum=2000.0, rate=100.0):
    return shopify_cost(available, requested, maximum, rate)


def variant(vid, sku, pid, title):
    return {
        "id": f"gid://shopify/ProductVariant/{vid}",
        "sku": sku,
        "title": "151cm" if sku else "Default Title",
        "inventoryItem": {"id": f"gid://shopify/InventoryItem/{vid}"},
        "product": {"id": f"gid://shopify/Product/{pid}", "title": title},
    }


def variants_page(nodes, *, next_cursor=None):
    return {
        "data": {
            "productVariants": {
                "pageInfo": {"hasNextPage": next_cursor is not None, "endCursor": next_cursor},
                "nodes": nodes,
            }
        },
        "extensions": cost(),
    }


THROTTLED = {
    "errors": [
        {
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
        }
    ],
    "extensions": cost(available=250.0, requested=302, maximum=1000.0, rate=500.0),
}


@pytest.fixture
def shopify(httpserver):
    return factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")


def test_shopify_products_are_imported_across_cursor_pages_through_a_worker(
    shopify, httpserver, run_worker, django_capture_on_commit_callbacks, redis_connection
):
    def graphql(request):
        assert request.headers["X-Shopify-Access-Token"] == "shpat_test"
        body = request.get_json()
        assert "productVariants" in body["query"]
        if body["variables"]["after"] is None:
            page = variants_page(
                [
                    variant(30322695, "element-151", 20995642, "Element"),
                    variant(1, "BOOT-1", 121709582, "Boots"),
                ],
                next_cursor="eyJsYXN0X2lkIjoxfQ==",
            )
        else:
            assert body["variables"]["after"] == "eyJsYXN0X2lkIjoxfQ=="
            # The Boots product goes on over the page break: still one product.
            page = variants_page(
                [variant(2, "BOOT-2", 121709582, "Boots"), variant(3, "", 558169081, "Draft")]
            )
        return Response(json.dumps(page), content_type="application/json")

    httpserver.expect_request(GRAPHQL, method="POST").respond_with_handler(graphql)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_start(channel_id=shopify.pk, kind="products")
    run_worker("channel-sync")
    run.refresh_from_db()
    assert (run.status, run.done, run.percent) == (SyncStatus.SUCCEEDED, 4, 100)
    assert run.counters["variants_mapped"] == 4 and run.counters["products_created"] == 3
    mapping = {
        v.external_variant_id: (v.sku.code, v.external_inventory_item_id)
        for v in ChannelVariant.objects.all()
    }
    assert mapping == {
        "30322695": ("element-151", "30322695"),
        "1": ("BOOT-1", "1"),
        "2": ("BOOT-2", "2"),
        "3": ("shopify-3", "3"),  # no SKU on Shopify: one is made, so the variant is still mapped
    }
    boots = Product.objects.get(title="Boots")
    assert sorted(boots.skus.values_list("code", flat=True)) == ["BOOT-1", "BOOT-2"]
    # The shop's real bucket (a Plus plan's 2000 points, 100/s), as Shopify reported it, for all workers.
    state = redis_connection.hgetall(f"hub:ratelimit:shopify:{shopify.shop_identifier}")
    assert (state[b"capacity"], state[b"rate"]) == (b"2000.0", b"100.0")


def test_importing_again_changes_nothing(shopify, httpserver, run_worker, django_capture_on_commit_callbacks):
    page = variants_page([variant(30322695, "element-151", 20995642, "Element")])
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_json(page)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            sync_start(channel_id=shopify.pk, kind="products")
        run_worker("channel-sync")
    assert (Product.objects.count(), SKU.objects.count(), ChannelVariant.objects.count()) == (1, 1, 1)
    assert SyncRun.objects.filter(status=SyncStatus.SUCCEEDED).count() == 2


def test_a_throttled_shopify_query_waits_for_the_points_it_lacks_and_asks_again(shopify, httpserver):
    from channels_app.platforms.shopify.client import SHOP_QUERY, ShopifyClient

    # 250 points left of the 302 asked, restoring 100/s: the retry waits ~0.5 s for the 52 missing.
    throttled = THROTTLED | {"extensions": cost(available=250.0, requested=302, maximum=1000.0, rate=100.0)}
    httpserver.expect_ordered_request(GRAPHQL, method="POST").respond_with_json(throttled)
    httpserver.expect_ordered_request(GRAPHQL, method="POST").respond_with_json(
        {"data": {"shop": {"name": "Snow Devil"}}, "extensions": cost()}
    )
    started = time.monotonic()
    assert ShopifyClient(shopify).graphql(SHOP_QUERY, cost=302) == {"shop": {"name": "Snow Devil"}}
    assert time.monotonic() - started >= 0.45
    assert len(httpserver.log) == 2


@pytest.mark.invalid_graphql
def test_a_shopify_query_error_fails_permanently(shopify, httpserver):
    from channels_app.platforms.shopify.client import ShopifyClient

    httpserver.expect_request(GRAPHQL, method="POST").respond_with_json(
        {"errors": [{"message": "Field 'nope' doesn't exist on type 'Shop'"}], "extensions": cost()}
    )
    with pytest.raises(http.PlatformError) as failure:
        ShopifyClient(shopify).graphql("{ shop { nope } }")
    assert failure.value.permanent and "doesn't exist" in str(failure.value)


def test_two_sync_now_clicks_join_one_run(shopify, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = sync_start(channel_id=shopify.pk, kind="products")
        second = sync_start(channel_id=shopify.pk, kind="products")
    assert first.pk == second.pk and SyncRun.objects.count() == 1
    assert (first.joined, second.joined) == (False, True)  # the second joined the first


def test_verify_connection_from_the_admin_shows_the_result(admin_client, shopify, httpserver):
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_json(
        {
            "data": {"shop": {"name": "Snow Devil", "myshopifyDomain": shopify.shop_identifier}},
            "extensions": cost(),
        }
    )
    broken = factories.shopify_channel(
        shop_identifier="gone.myshopify.com", api_base_url=httpserver.url_for("/gone")
    )
    httpserver.expect_request(f"/gone{GRAPHQL}").respond_with_json(
        {"errors": "[API] Invalid API key"}, status=401
    )
    url = reverse("admin:channels_app_channel_changelist")
    response = admin_client.post(
        url, {"action": "verify_connection", "_selected_action": [shopify.pk, broken.pk]}, follow=True
    )
    page = response.content.decode()
    assert "Shopify shop Snow Devil" in page
    assert "has no access token" in page  # the broken channel was never given one
    shopify.refresh_from_db()
    broken.refresh_from_db()
    assert (shopify.connection_ok, broken.connection_ok) == (True, False)
    assert "OK at" in admin_client.get(url).content.decode()


def test_sync_channel_direct_imports_inline_and_prints_the_counts(shopify, httpserver, capsys):
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_json(
        variants_page([variant(30322695, "element-151", 20995642, "Element")])
    )
    call_command("sync_channel", str(shopify.pk), "products", "--direct")
    out = capsys.readouterr().out
    assert "succeeded" in out and "'variants_mapped': 1" in out
    assert SKU.objects.get().code == "element-151"


def test_a_run_nothing_runs_any_more_is_closed_and_a_new_one_started(shopify):
    from datetime import timedelta

    from django.utils import timezone

    stuck = SyncRun.objects.create(
        channel=shopify,
        kind="products",
        status=SyncStatus.RUNNING,
        started_at=timezone.now() - timedelta(hours=2),
    )
    fresh = sync_start(channel_id=shopify.pk, kind="products")
    stuck.refresh_from_db()
    assert fresh.pk != stuck.pk and not fresh.joined
    assert (stuck.status, stuck.error) == (SyncStatus.FAILED, "abandoned: no job was running it")


def test_a_sku_code_longer_than_the_hub_keeps_gets_one_made_and_is_counted():
    from collections import Counter

    from inventory.catalog import ProductData, VariantData, products_upsert

    channel = factories.shopify_channel()
    counts = products_upsert(
        channel_id=channel.pk,
        organization_id=channel.organization_id,
        platform="shopify",
        products=[ProductData("1", "Long", (VariantData("9", "X" * 200),))],
    )
    assert counts["sku_codes_too_long"] == 1 and SKU.objects.get().code == "shopify-9"
    assert isinstance(counts, Counter)


def test_a_retried_import_goes_on_from_its_last_committed_page(
    shopify, httpserver, run_worker, settings, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(http, "BACKOFF", 0.01)
    settings.HUB_JOB_RETRY_INTERVALS = [0]
    asked = []

    def graphql(request):
        after = request.get_json()["variables"]["after"]
        asked.append(after)
        if after is None:
            page = variants_page([variant(1, "A-1", 10, "A")], next_cursor="c1")
        elif asked.count("c1") <= http.ATTEMPTS:
            return Response("busy", status=503)  # the first job gives up on page 2
        else:
            page = variants_page([variant(2, "B-1", 20, "B")])
        return Response(json.dumps(page), content_type="application/json")

    httpserver.expect_request(GRAPHQL, method="POST").respond_with_handler(graphql)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_start(channel_id=shopify.pk, kind="products")
    run_worker("channel-sync")  # fails on page 2, is retried at once, and goes on from page 2
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert asked.count(None) == 1  # page 1 was not read again
    assert (run.done, run.counters["variants_mapped"]) == (2, 2)
