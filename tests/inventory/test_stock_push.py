"""Stock pushed out to channels: coalesced per (channel, SKU, location), CAS on Shopify, no echoes."""

from __future__ import annotations

import json
import time

import pytest
from django.db import transaction
from werkzeug import Response

from channels_app.models import ChannelLocation, EventStatus, ProcessedWebhookEvent
from config.queues import get_queue
from inventory import stock_push
from inventory.models import ChannelStock, ChannelVariant
from inventory.services import ReservationRequest, stock_locked, stock_move
from tests.channels_app import factories
from tests.inventory.factories import level, sku, warehouse
from tests.platforms import post_shopify, shopify_cost, shopify_graphql_path

pytestmark = pytest.mark.django_db

GRAPHQL = shopify_graphql_path()
COST = shopify_cost()


class FakeShopifyInventory:
    """Shopify's available quantity of one item at one location, with inventorySetQuantities' CAS."""

    def __init__(self, available=3):
        self.available = available
        self.sets: list[dict] = []
        self.keys: list[str] = []

    def __call__(self, request):
        body = request.get_json()
        if "inventorySetQuantities" in body["query"]:
            assert "@idempotent(key: $idempotencyKey)" in body["query"]
            self.keys.append(body["variables"]["idempotencyKey"])
            change = body["variables"]["input"]["quantities"][0]
            self.sets.append(change)
            if change["changeFromQuantity"] != self.available:
                errors = [
                    {
                        "code": "CHANGE_FROM_QUANTITY_STALE",
                        "field": ["input"],
                        "message": "The quantity changed",
                    }
                ]
                data = {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": errors}}
            else:
                delta, self.available = change["quantity"] - self.available, change["quantity"]
                group = {
                    "createdAt": "2030-01-01T00:00:00Z",  # Shopify's clock, as its levels' updatedAt
                    "reason": "Inventory correction",
                    "changes": [{"name": "available", "delta": delta}],
                }
                data = {"inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": []}}
        else:
            assert body["variables"]["location"] == "gid://shopify/Location/24826418"
            quantities = [{"name": "available", "quantity": self.available}]
            data = {"inventoryItem": {"inventoryLevel": {"quantities": quantities}}}
        return Response(json.dumps({"data": data, "extensions": COST}), content_type="application/json")


@pytest.fixture
def shop(httpserver):
    fake = FakeShopifyInventory()
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_handler(fake)
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    main = warehouse(channel.organization)
    item = sku(channel.organization, "AVIATOR")
    ChannelVariant.objects.create(
        channel=channel, sku=item, external_variant_id="1", external_inventory_item_id="271878346596884015"
    )
    ChannelLocation.objects.create(channel=channel, external_id="24826418", warehouse=main)
    return channel, main, item, fake


def level_report(client, channel, *, available, event_id, updated_at="2030-01-01T00:00:00Z"):
    """Post Shopify's inventory_levels/update for the shop's item at its mapped location, signed."""
    body = json.dumps(
        {
            "inventory_item_id": 271878346596884015,
            "location_id": 24826418,
            "available": available,
            "updated_at": updated_at,
        }
    ).encode()
    return post_shopify(client, channel, "inventory_levels/update", body, event_id=event_id)


def at_a_windows_start():
    time.sleep(stock_push.WINDOW - time.time() % stock_push.WINDOW + 0.05)


def after_the_window():
    time.sleep(stock_push.WINDOW - time.time() % stock_push.WINDOW + 0.1)


def test_ten_changes_make_one_push_carrying_the_last_value(
    shop, run_worker, django_capture_on_commit_callbacks
):
    channel, main, item, fake = shop
    at_a_windows_start()
    for n in range(1, 11):
        with django_capture_on_commit_callbacks(execute=True):  # ten committed changes
            stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=n, reason="adjustment")
    assert get_queue("stock-push").scheduled_job_registry.count == 1  # one flush asked for the burst
    after_the_window()
    run_worker("stock-push")
    assert fake.sets == [
        {
            "inventoryItemId": "gid://shopify/InventoryItem/271878346596884015",
            "locationId": "gid://shopify/Location/24826418",
            "quantity": 55,  # 1 + 2 + ... + 10: the last value
            "changeFromQuantity": 3,  # read from Shopify first: the hub did not know its figure
        }
    ]
    assert fake.keys[0].startswith("stock-push-") and fake.keys[0].endswith(
        f"{channel.pk}:{item.pk}:24826418:55:None"
    )
    state = ChannelStock.objects.get(channel=channel, sku=item)
    assert (state.known_available, state.last_pushed) == (55, 55)


@pytest.mark.parametrize("listed_by", ["no channel", "an inactive channel", "a carrier account"])
def test_a_change_no_channel_is_pushed_asks_for_nothing_once_it_commits(
    shop, listed_by, redis_connection, django_capture_on_commit_callbacks
):
    channel, main, item, _ = shop
    other = sku(channel.organization, "UNLISTED")
    if listed_by == "an inactive channel":
        closed = factories.woocommerce_channel()
        closed.is_active = False
        closed.save()
        ChannelVariant.objects.create(channel=closed, sku=other, external_variant_id="9")
    elif listed_by == "a carrier account":
        carrier = factories.easypost_channel()
        ChannelVariant.objects.create(channel=carrier, sku=other, external_variant_id="9")
    with django_capture_on_commit_callbacks() as callbacks:
        stock_move(sku_id=other.pk, warehouse_id=main.pk, quantity=5, reason="adjustment")
    assert callbacks == []  # nothing runs after the commit: no query, no Redis call

    # Beside a listed SKU in one transaction, only the listed one's level is asked for.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic(), stock_locked([(item.pk, main.pk), (other.pk, main.pk)]) as stock:
            assert stock.listed == {item.pk}
            for changed in (item, other):
                stock.move(sku_id=changed.pk, warehouse_id=main.pk, quantity=1, reason="adjustment")
    assert len(callbacks) == 1
    assert redis_connection.zrange(stock_push.PENDING, 0, -1) == [
        stock_push.Target(channel.pk, item.pk, "24826418").key.encode()
    ]


def test_a_listed_skus_hold_released_by_its_reference_alone_is_pushed(
    shop, redis_connection, django_capture_on_commit_callbacks
):
    """A cancelled order names only its lines' references: their levels are locked through the
    reservations, and whether a channel lists them is read with that lock too."""
    channel, main, item, _ = shop
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=5, reason="adjustment")
    hold = ReservationRequest(reference="order-item:1", sku_id=item.pk, warehouse_id=main.pk, quantity=2)
    with transaction.atomic(), stock_locked([(item.pk, main.pk)]) as stock:
        stock.reserve(hold)
    redis_connection.delete(stock_push.PENDING)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic(), stock_locked(references=["order-item:1"]) as stock:
            assert stock.release("order-item:1")
    assert len(callbacks) == 1
    assert redis_connection.zrange(stock_push.PENDING, 0, -1) == [
        stock_push.Target(channel.pk, item.pk, "24826418").key.encode()
    ]


def test_a_figure_the_channel_already_shows_is_not_pushed_again(shop):
    channel, main, item, fake = shop
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=4, reason="adjustment")
    target = stock_push.Target(channel.pk, item.pk, "24826418")
    assert stock_push.stock_push(target) == "pushed"
    assert stock_push.stock_push(target) == "unchanged"
    assert len(fake.sets) == 1


def test_a_sale_on_shopify_meanwhile_is_read_and_the_set_made_from_it(shop):
    channel, main, item, fake = shop
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=9, reason="adjustment")
    ChannelStock.objects.create(channel=channel, sku=item, location_external_id="24826418", known_available=5)
    fake.available = 4  # sold one on Shopify since the hub last knew
    assert stock_push.stock_push(stock_push.Target(channel.pk, item.pk, "24826418")) == "pushed"
    assert [s["changeFromQuantity"] for s in fake.sets] == [5, 4] and fake.available == 9
    assert fake.keys[1] == fake.keys[0] + ":again"  # a new request, so a new idempotency key


def test_the_echo_of_our_own_push_changes_nothing(
    shop, client, django_capture_on_commit_callbacks, run_worker
):
    channel, main, item, fake = shop
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=7, reason="adjustment")
    stock_push.stock_push(stock_push.Target(channel.pk, item.pk, "24826418"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        level_report(client, channel, available=7, event_id="echo")
    run_worker("webhooks")
    event = ProcessedWebhookEvent.objects.get()
    assert (event.status, event.ignored_reason) == (EventStatus.IGNORED, "echo of the hub's own stock push")
    assert len(callbacks) == 1  # the enqueue only: no stock change, so no push back


@pytest.mark.parametrize("echo_first", [True, False], ids=["echo first", "old report first"])
def test_a_figure_read_before_our_push_does_not_bring_the_old_figure_back(
    shop, client, django_capture_on_commit_callbacks, run_worker, echo_first
):
    """Shopify's figure from before the push (a retried webhook, or a level a reconciliation read
    before the push and that is processed after it), before or after the push's echo."""
    channel, main, item, fake = shop
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=7, reason="adjustment")
    stock_push.stock_push(stock_push.Target(channel.pk, item.pk, "24826418"))
    reports = [(7, "echo", "2030-01-01T00:00:00Z"), (3, "old", "2029-12-31T23:59:59Z")]
    for available, event_id, updated_at in reports if echo_first else reports[::-1]:
        with django_capture_on_commit_callbacks(execute=True):
            level_report(client, channel, available=available, event_id=event_id, updated_at=updated_at)
        run_worker("webhooks", "stock-push")
    old = ProcessedWebhookEvent.objects.get(delivery_id="wh-old")
    assert (old.status, old.ignored_reason) == (
        EventStatus.IGNORED,
        "stale stock update: read before the hub's last push was applied",
    )
    assert level(item, main).on_hand == 7
    assert ChannelStock.objects.get().known_available == 7 and fake.available == 7


def test_a_sale_on_the_channel_after_our_push_is_taken(
    shop, client, django_capture_on_commit_callbacks, run_worker
):
    channel, main, item, fake = shop
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=7, reason="adjustment")
    stock_push.stock_push(stock_push.Target(channel.pk, item.pk, "24826418"))
    with django_capture_on_commit_callbacks(execute=True):
        level_report(client, channel, available=6, event_id="sale", updated_at="2030-01-01T00:00:05Z")
    run_worker("webhooks")
    assert ProcessedWebhookEvent.objects.get().status == EventStatus.COMPLETED
    assert level(item, main).on_hand == 6


def test_woocommerce_stock_is_set_on_the_variation(httpserver):
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck_test", consumer_secret="cs_test"
    )
    main = warehouse(channel.organization)
    ChannelLocation.objects.create(channel=channel, external_id="store", warehouse=main)
    item = sku(channel.organization, "SHIP-S", on_hand=6, at=main)
    ChannelVariant.objects.create(
        channel=channel, sku=item, external_variant_id="801", external_product_id="799"
    )
    httpserver.expect_request("/wp-json/wc/v3/products/799/variations/801", method="PUT").respond_with_json(
        {"id": 801, "stock_quantity": 6, "manage_stock": True}
    )
    assert stock_push.targets_for([(item.pk, main.pk)]) == [stock_push.Target(channel.pk, item.pk, "")]
    assert stock_push.stock_push(stock_push.Target(channel.pk, item.pk, "")) == "pushed"
    ((request, _),) = httpserver.log
    assert request.get_json() == {"manage_stock": True, "stock_quantity": 6}


def test_a_channel_failing_does_not_hold_the_others_and_is_tried_again(
    shop, httpserver, redis_connection, monkeypatch
):
    from channels_app import http

    monkeypatch.setattr(http, "BACKOFF", 0.01)
    channel, main, item, fake = shop
    broken = factories.woocommerce_channel(
        api_base_url=httpserver.url_for("/down"), consumer_key="k", consumer_secret="s"
    )
    ChannelLocation.objects.create(channel=broken, external_id="store", warehouse=main)
    ChannelVariant.objects.create(channel=broken, sku=item, external_variant_id="5", external_product_id="5")
    httpserver.expect_request("/down/wp-json/wc/v3/products/5", method="PUT").respond_with_data(
        "", status=503
    )
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=2, reason="adjustment")
    keys = {f"{channel.pk}:{item.pk}:24826418": 0, f"{broken.pk}:{item.pk}:": 0}
    redis_connection.zadd(stock_push.PENDING, keys)
    counts = stock_push.push_stock_due()
    assert counts == {"pushed": 1, "unchanged": 0, "failed": 1}
    assert redis_connection.zrange(stock_push.PENDING, 0, -1) == [f"{broken.pk}:{item.pk}:".encode()]  # later
    assert "503" in ChannelStock.objects.get(channel=broken).push_error


def test_a_change_during_a_push_keeps_its_key_for_the_next_window(shop, redis_connection, monkeypatch):
    channel, main, item, fake = shop
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=4, reason="adjustment")
    key = f"{channel.pk}:{item.pk}:24826418"
    redis_connection.zadd(stock_push.PENDING, {key: time.time() - 1})
    real_push = stock_push.stock_push

    def push_then_a_change_arrives(target):
        result = real_push(target)
        redis_connection.zadd(stock_push.PENDING, {key: time.time()})  # a change marked it again
        return result

    monkeypatch.setattr(stock_push, "stock_push", push_then_a_change_arrives)
    assert stock_push.push_stock_due()["pushed"] == 1
    assert redis_connection.zrange(stock_push.PENDING, 0, -1) == [key.encode()]  # still pending
    monkeypatch.setattr(stock_push, "stock_push", real_push)
    assert stock_push.push_stock_due() == {"pushed": 0, "unchanged": 1, "failed": 0}
    assert redis_connection.zcard(stock_push.PENDING) == 0  # pushed (or unchanged): forgotten


def test_a_report_while_the_hubs_newer_figure_waits_to_be_pushed_changes_nothing(
    shop, client, redis_connection, run_worker, django_capture_on_commit_callbacks
):
    channel, main, item, fake = shop
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=10, reason="adjustment")  # a receipt
    redis_connection.zadd(stock_push.PENDING, {f"{channel.pk}:{item.pk}:24826418": time.time()})
    with django_capture_on_commit_callbacks(execute=True):
        level_report(client, channel, available=3, event_id="r1")
    run_worker("webhooks")
    event = ProcessedWebhookEvent.objects.get()
    assert event.ignored_reason == "the hub's own newer figure is being pushed to the channel"
    from tests.inventory.factories import level

    assert level(item, main).on_hand == 10  # the receipt stands


def test_a_channels_report_adds_back_every_channels_holds(shop):
    from inventory.inbound import level_reserved
    from inventory.models import Reservation

    channel, main, item, fake = shop
    other = factories.woocommerce_channel()
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=10, reason="adjustment")
    for n, holder in enumerate((channel, other)):
        Reservation.objects.create(
            sku=item, warehouse=main, quantity=2 + n, reference=f"r{n}", channel=holder
        )
    # Shopify shows on hand less every hold (what the hub pushed): on hand is that plus every hold.
    assert level_reserved(item, main) == 5
