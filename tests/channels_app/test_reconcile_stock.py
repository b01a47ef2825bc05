"""Stock that missed its webhooks healed by polling: every level of every mapped location, read
page by page and resumed where a cut-off run stopped, from Shopify and WooCommerce alike."""

from __future__ import annotations

import json
import re

import pytest
from werkzeug import Response

from channels_app.models import (
    ChannelLocation,
    EventStatus,
    ProcessedWebhookEvent,
    SyncKind,
    SyncRun,
    SyncStatus,
)
from channels_app.sync import sync_run, sync_start
from inventory.models import ChannelVariant
from tests.channels_app import factories
from tests.channels_app.conftest import run_sync
from tests.inventory.factories import level, sku, warehouse
from tests.platforms import fixture_json, post_shopify, shopify_cost, shopify_graphql_path

pytestmark = pytest.mark.django_db

GRAPHQL = shopify_graphql_path()


class FakeShopifyStock:
    """A shop's inventory levels per location, answering the hub's GraphQL as Shopify does: a
    location's `inventoryLevels` a page at a time by cursor (`pageInfo.hasNextPage`, `endCursor`),
    `location: null` for one the shop does not have, `extensions.cost` on every answer."""

    def __init__(self):
        self.levels: dict[str, list[dict]] = {}  # location id -> its levels, in Shopify's order
        self.requests: list[dict] = []
        self.requested_costs: list[int] = []
        self.fail_at = 0

    def stock(self, location, item, available, updated_at="2026-11-25T10:00:00Z"):
        self.levels.setdefault(location, []).append(
            {
                "updatedAt": updated_at,
                "item": {"legacyResourceId": item, "tracked": True},
                "quantities": [{"name": "available", "quantity": available}],
            }
        )

    def set(self, location, item, **changes):
        (level,) = [n for n in self.levels[location] if n["item"]["legacyResourceId"] == item]
        if "available" in changes:
            level["quantities"] = [{"name": "available", "quantity": changes["available"]}]
        level["updatedAt"] = changes.get("updated_at", level["updatedAt"])

    def pages_read(self, location):
        gid = f"gid://shopify/Location/{location}"
        return [r["variables"]["after"] for r in self.requests if r["variables"].get("location") == gid]

    def __call__(self, request):
        body = request.get_json()
        self.requests.append(body)
        variables = body["variables"]
        if self.fail_at == len(self.requests):  # the run's job dies here (its time limit, a kill)
            return Response("no", status=400)
        if "orders(" in body["query"]:
            requested = 600
            data = {"orders": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}}
        else:
            assert "location(id: $location)" in body["query"] and "inventoryLevels(" in body["query"]
            first = variables["first"]
            assert 0 < first <= 250  # Shopify's largest page
            requested = 3 + 3 * first  # location, connection, and per level: level, item, quantities
            levels = self.levels.get(variables["location"].removeprefix("gid://shopify/Location/"))
            if levels is None:
                data = {"location": None}
            else:
                start = int(variables["after"] or 0)
                page = levels[start : start + first]
                end = start + len(page)
                info = {"hasNextPage": end < len(levels), "endCursor": str(end) if page else None}
                data = {"location": {"inventoryLevels": {"pageInfo": info, "nodes": page}}}
        self.requested_costs.append(requested)
        extensions = shopify_cost(available=1970, requested=requested, maximum=2000.0, rate=100.0)
        return Response(json.dumps({"data": data, "extensions": extensions}), content_type="application/json")


@pytest.fixture
def shop(httpserver):
    fake = FakeShopifyStock()
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_handler(fake)
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    return channel, fake


def mapped(channel, location, code, *, default=False):
    """A warehouse that the channel's Shopify location is mapped to."""
    at = warehouse(channel.organization, code, default=default)
    ChannelLocation.objects.create(channel=channel, external_id=location, warehouse=at)
    return at


def listed(channel, code, inventory_item):
    item = sku(channel.organization, code)
    ChannelVariant.objects.create(
        channel=channel,
        sku=item,
        external_variant_id=f"v{inventory_item}",
        external_inventory_item_id=inventory_item,
    )
    return item


def reconcile(channel, run_worker, django_capture_on_commit_callbacks):
    run = run_sync(
        run_worker, django_capture_on_commit_callbacks, channel_id=channel.pk, kind=SyncKind.RECONCILE
    )
    assert run.status == SyncStatus.SUCCEEDED, run.error
    return run


def test_reconciliation_reads_every_level_of_every_mapped_location_page_by_page(
    shop, run_worker, django_capture_on_commit_callbacks
):
    channel, fake = shop
    locations = [str(70001 + n) for n in range(12)]
    warehouses = [mapped(channel, loc, f"w{n}", default=n == 0) for n, loc in enumerate(locations)]
    ipod = listed(channel, "IPOD", "4501")
    last = listed(channel, "LAST", "4749")
    for n, location in enumerate(locations):  # one item stocked at twelve locations
        fake.stock(location, "4501", available=10 + n)
    for item in range(4600, 4750):  # and 150 more at the first: two pages of levels
        fake.stock(locations[0], str(item), available=3)
    fake.stock("79999", "4501", available=99)  # a location the hub does not map: never read
    ChannelLocation.objects.create(channel=channel, external_id="70099", warehouse=warehouses[0])  # gone

    run = reconcile(channel, run_worker, django_capture_on_commit_callbacks)

    assert [level(ipod, at).on_hand for at in warehouses] == [10 + n for n in range(12)]
    assert level(last, warehouses[0]).on_hand == 3  # the last level of the second page
    assert fake.pages_read(locations[0]) == [None, "100"] and fake.pages_read("79999") == []
    assert fake.pages_read("70099") == [None]  # asked, answered `location: null`, passed over
    assert run.counters == {"events_recorded": 12 + 150}
    levels = ProcessedWebhookEvent.objects.filter(topic="inventory_levels/update")
    assert levels.count() == 162 and not levels.exclude(
        status__in=[EventStatus.COMPLETED, EventStatus.IGNORED, EventStatus.NEEDS_MAPPING]
    )
    # The 149 items of the 150 more that no SKU maps (all but LAST) wait for a mapping.
    waiting = levels.filter(status=EventStatus.NEEDS_MAPPING)
    assert waiting.count() == 149 and set(waiting.values_list("mapping_kind", flat=True)) == {
        "inventory_item"
    }
    # Orders are still searched by updated_at; stock never is.
    (orders,) = [r for r in fake.requests if "orders(" in r["query"]]
    assert orders["variables"]["query"].startswith("updated_at:>='")
    assert all("query" not in r["variables"] for r in fake.requests if r is not orders)
    assert max(fake.requested_costs) < 1000  # Shopify's ceiling for one query


def test_a_reconciliation_cut_off_midway_goes_on_from_its_last_page(
    shop, run_worker, django_capture_on_commit_callbacks
):
    """A big shop's stock can outlast the job's time limit: the retried run reads neither the
    orders nor the pages it has recorded again."""
    channel, fake = shop
    first, second = mapped(channel, "70001", "w1", default=True), mapped(channel, "70002", "w2")
    items = [listed(channel, f"S{n}", str(5000 + n)) for n in range(250)]
    for n in range(250):
        fake.stock("70001", str(5000 + n), available=n % 7)
        fake.stock("70002", str(5000 + n), available=n % 5)
    fake.fail_at = 5  # orders, 70001's three pages, then 70002's first

    with django_capture_on_commit_callbacks(execute=True):
        run = sync_start(channel_id=channel.pk, kind=SyncKind.RECONCILE)
    with django_capture_on_commit_callbacks(execute=True):
        run_worker("channel-sync")
    run.refresh_from_db()
    assert (run.status, run.resume_from) == (SyncStatus.FAILED, "levels:70002:")
    assert run.counters == {"events_recorded": 250}

    fake.requests.clear()
    SyncRun.objects.filter(pk=run.pk).update(status=SyncStatus.QUEUED, finished_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        sync_run(run.pk)
    run_worker("webhooks")

    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED and run.counters == {"events_recorded": 500}
    assert not [r for r in fake.requests if "orders(" in r["query"]] and fake.pages_read("70001") == []
    assert fake.pages_read("70002") == [None, "100", "200"]
    assert [level(items[n], first).on_hand for n in (0, 249)] == [0, 249 % 7]
    assert [level(items[n], second).on_hand for n in (0, 249)] == [0, 249 % 5]


def test_an_unchanged_shop_records_nothing_new_and_a_quantity_only_change_is_reconciled(
    shop, run_worker, django_capture_on_commit_callbacks
):
    channel, fake = shop
    main = mapped(channel, "70001", "main", default=True)
    item = listed(channel, "IPOD", "4501")
    fake.stock("70001", "4501", available=5, updated_at="2026-11-25T10:00:00Z")
    first = reconcile(channel, run_worker, django_capture_on_commit_callbacks)
    assert first.counters == {"events_recorded": 1} and level(item, main).on_hand == 5

    again = reconcile(channel, run_worker, django_capture_on_commit_callbacks)
    assert again.counters == {"already_received": 1}
    assert ProcessedWebhookEvent.objects.count() == 1 and level(item, main).on_hand == 5
    assert ProcessedWebhookEvent.objects.get().duplicate_count == 0  # a re-read is not a redelivery

    # A sale on Shopify: the figure moves, and no `updated_at` the hub could search by moved with it.
    fake.set("70001", "4501", available=4)
    sold = reconcile(channel, run_worker, django_capture_on_commit_callbacks)
    assert sold.counters == {"events_recorded": 1} and level(item, main).on_hand == 4

    fake.set("70001", "4501", available=9, updated_at="2026-11-25T11:00:00Z")
    restocked = reconcile(channel, run_worker, django_capture_on_commit_callbacks)
    assert restocked.counters == {"events_recorded": 1} and level(item, main).on_hand == 9
    assert set(ProcessedWebhookEvent.objects.values_list("status", flat=True)) == {EventStatus.COMPLETED}


def test_a_polled_level_older_than_the_webhook_applied_changes_nothing(
    shop, client, run_worker, django_capture_on_commit_callbacks
):
    channel, fake = shop
    main = mapped(channel, "70001", "main", default=True)
    item = listed(channel, "IPOD", "4501")
    body = json.dumps(
        {
            "inventory_item_id": 4501,
            "location_id": 70001,
            "available": 8,
            "updated_at": "2026-11-25T10:05:00Z",
        }
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(client, channel, "inventory_levels/update", body, event_id="e-8")
    run_worker("webhooks")
    assert level(item, main).on_hand == 8
    # Read before that webhook's change, processed after it.
    fake.stock("70001", "4501", available=5, updated_at="2026-11-25T10:00:00Z")
    reconcile(channel, run_worker, django_capture_on_commit_callbacks)
    polled = ProcessedWebhookEvent.objects.get(event_key__startswith="poll:level:")
    assert (polled.status, polled.ignored_reason) == (
        EventStatus.IGNORED,
        "stale stock update: older than the last one applied",
    )
    assert level(item, main).on_hand == 8


def woocommerce_lists(lists, seen):
    """WooCommerce's collection endpoints as its CRUD controller answers them: `page` of `per_page`,
    the size in `X-WP-Total` and `X-WP-TotalPages`. `lists` holds what matches the poll's query."""

    def answer(request):
        args = request.args
        seen.append((request.path, dict(args)))
        if args.get("type") == "variable":  # the variable products, ids only
            items = lists["variable"]
        else:
            assert args["dates_are_gmt"] == "true" and args["modified_after"]
            items = lists.get(request.path, [])
        page, size = int(args["page"]), int(args["per_page"])
        headers = {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(-(-len(items) // size))}
        body = json.dumps(items[(page - 1) * size : page * size])
        return Response(body, headers=headers, content_type="application/json")

    return answer


def test_a_woocommerce_variations_stock_change_is_reconciled_across_pages(
    httpserver, run_worker, django_capture_on_commit_callbacks
):
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck_test", consumer_secret="cs_test"
    )
    main = warehouse(channel.organization)
    green = sku(channel.organization, "SHIP-GREEN", on_hand=3, at=main)
    black = sku(channel.organization, "SHIP-BLACK", on_hand=3, at=main)
    for item, variation_id in ((green, "733"), (black, "732")):
        ChannelVariant.objects.create(
            channel=channel, sku=item, external_variant_id=variation_id, external_product_id="22"
        )
    documented = fixture_json("woocommerce/api/variations_list.json")["list_all_product_variations"]
    assert [v["id"] for v in documented] == [733, 732]
    # Sales in the store saved the variations, whose date modified moved; their parent's did not,
    # so the parents' list since then is empty. 101 variations changed: two pages of 100.
    sold = {"manage_stock": True, "date_modified_gmt": "2026-11-25T10:05:00"}
    untracked = [
        documented[1] | {"id": 2000 + n, "date_modified_gmt": "2026-11-25T10:05:00"} for n in range(99)
    ]
    # Current stores' variation lists carry `parent_id` too (the v3 variations controller's answer).
    untracked[0] |= sold | {"stock_quantity": 5, "parent_id": 22}  # tracked there, unknown here
    changed = [
        documented[0] | sold | {"stock_quantity": 4},
        *untracked,
        documented[1] | sold | {"stock_quantity": 9},
    ]
    lists = {
        "variable": [{"id": 22}, {"id": 799}],
        "/wp-json/wc/v3/products/22/variations": changed,
    }
    seen = []
    httpserver.expect_request(re.compile(r"/wp-json/wc/v3/.+"), method="GET").respond_with_handler(
        woocommerce_lists(lists, seen)
    )
    run = run_sync(
        run_worker, django_capture_on_commit_callbacks, channel_id=channel.pk, kind=SyncKind.RECONCILE
    )
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert [args["_fields"] for _, args in seen if args.get("type") == "variable"] == ["id"]
    assert [(path, args["page"]) for path, args in seen if "variations" in path] == [
        ("/wp-json/wc/v3/products/22/variations", "1"),
        ("/wp-json/wc/v3/products/22/variations", "2"),
        ("/wp-json/wc/v3/products/799/variations", "1"),
    ]
    assert run.counters == {"events_recorded": 101}
    assert (level(green, main).on_hand, level(black, main).on_hand) == (4, 9)
    event = ProcessedWebhookEvent.objects.get(event_key="poll:product:732:2026-11-25T10:05:00")
    assert (event.topic, event.status) == ("product.updated", EventStatus.COMPLETED)
    ignored = ProcessedWebhookEvent.objects.filter(status=EventStatus.IGNORED)
    assert ignored.count() == 99  # 98 whose stock WooCommerce does not manage, and:
    assert ignored.get(event_key__startswith="poll:product:2000:").ignored_reason == (
        "no SKU maps WooCommerce variation 2000 of product 22"
    )
