"""Missed webhooks healed by polling: orders backfilled and reconciled through the handlers, and
when a scheduled reconciliation starts and from where."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from werkzeug import Response

from channels_app.models import (
    EventStatus,
    ProcessedWebhookEvent,
    SyncKind,
    SyncRun,
    SyncStatus,
    WebhookSubscription,
)
from channels_app.sync import reconcile_due, reconcile_since
from config.queues import get_queue
from inventory.models import ChannelVariant, Reservation
from orders.models import Order
from tests.channels_app import factories
from tests.channels_app.conftest import run_sync
from tests.inventory.factories import level, sku, warehouse
from tests.platforms import fixture_json, shopify_cost, shopify_graphql_path

pytestmark = pytest.mark.django_db

GRAPHQL = shopify_graphql_path()
COST = shopify_cost(available=1970, requested=600, maximum=2000.0, rate=100.0)


def money(amount):
    return {"shopMoney": {"amount": amount, "currencyCode": "USD"}}


ORDER_NODE = {
    "legacyResourceId": "5501",
    "name": "#1055",
    "email": "bob@example.com",
    "phone": None,
    "currencyCode": "USD",
    "createdAt": "2026-11-25T10:00:00Z",
    "updatedAt": "2026-11-25T10:05:00Z",
    "cancelledAt": None,
    "cancelReason": None,
    "displayFinancialStatus": "PAID",
    "displayFulfillmentStatus": "UNFULFILLED",
    "customer": {"firstName": "Bob", "lastName": "Norman", "defaultPhoneNumber": None},
    "checkoutToken": None,
    "shippingAddress": {
        "firstName": "Bob",
        "lastName": "Norman",
        "address1": "Chestnut Street 92",
        "city": "Louisville",
        "countryCodeV2": "US",
        "zip": "40202",
    },
    "billingAddress": None,
    "currentSubtotalPriceSet": money("398.00"),
    "currentTotalTaxSet": money("11.94"),
    "currentTotalDiscountsSet": money("0.00"),
    "currentTotalPriceSet": money("409.94"),
    "lineItems": {
        "nodes": [
            {
                "id": "gid://shopify/LineItem/866550311766439020",
                "name": "IPod Nano - 8GB - green",
                "sku": "IPOD2008GREEN",
                "quantity": 2,
                "currentQuantity": 2,
                "unfulfilledQuantity": 2,
                "variant": {"legacyResourceId": "39072856"},
                "originalUnitPriceSet": money("199.00"),
            }
        ]
    },
}


@pytest.fixture
def shopify(httpserver):
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    main = warehouse(channel.organization)
    item = sku(channel.organization, "IPOD2008GREEN", on_hand=5, at=main)
    ChannelVariant.objects.create(channel=channel, sku=item, external_variant_id="39072856")
    return channel, main, item


def test_a_shopify_order_whose_webhook_never_came_is_healed_by_reconciliation(
    shopify, httpserver, run_worker, django_capture_on_commit_callbacks
):
    channel, main, item = shopify
    searches = []

    def graphql(request):
        body = request.get_json()
        searches.append(body["variables"].get("query"))
        if "orders(" in body["query"]:
            data = {"orders": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": [ORDER_NODE]}}
        else:
            data = {"inventoryItems": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}}
        return Response(json.dumps({"data": data, "extensions": COST}), content_type="application/json")

    httpserver.expect_request(GRAPHQL, method="POST").respond_with_handler(graphql)
    run = run_sync(
        run_worker, django_capture_on_commit_callbacks, channel_id=channel.pk, kind=SyncKind.RECONCILE
    )
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert searches[0].startswith("updated_at:>='") and run.since is not None
    order = Order.objects.get(channel=channel, external_id="5501")
    assert (order.number, order.customer_name, str(order.total), order.financial_status) == (
        "#1055",
        "Bob Norman",
        "409.94",
        "paid",
    )
    assert Reservation.objects.get(sku=item).quantity == 2 and level(item, main).reserved == 2
    event = ProcessedWebhookEvent.objects.get()
    assert (event.topic, event.status, event.headers["X-Hub-Source"]) == (
        "orders/updated",
        EventStatus.COMPLETED,
        f"reconciliation run {run.pk}",
    )
    # The next poll finds the same order version: one event, nothing changes, the run says so.
    again = run_sync(
        run_worker, django_capture_on_commit_callbacks, channel_id=channel.pk, kind=SyncKind.RECONCILE
    )
    assert again.counters == {"already_received": 1}
    assert ProcessedWebhookEvent.objects.count() == 1 and level(item, main).reserved == 2
    assert again.since >= run.started_at - timedelta(minutes=5)  # from the last successful poll


def test_a_woocommerce_order_backfill_uses_the_rest_answer_as_the_webhook_payload(
    httpserver, run_worker, django_capture_on_commit_callbacks
):
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck_test", consumer_secret="cs_test"
    )
    order = fixture_json("woocommerce/webhooks/order_created.json")
    httpserver.expect_request(
        "/wp-json/wc/v3/orders",
        query_string="modified_after=2026-11-01T00%3A00%3A00&dates_are_gmt=true&orderby=id&order=asc&page=1&per_page=100",
    ).respond_with_json([order], headers={"X-WP-Total": "1", "X-WP-TotalPages": "1"})
    with django_capture_on_commit_callbacks(execute=True):  # as its commits would, outside a test
        call_command("sync_channel", str(channel.pk), "orders", "--since", "2026-11-01T00:00:00Z", "--direct")
    assert get_queue("channel-sync").count == 0  # --direct: run here, never also queued
    run = SyncRun.objects.get()
    assert (run.status, run.counters, run.since) == (
        SyncStatus.SUCCEEDED,
        {"events_recorded": 1},
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    event = ProcessedWebhookEvent.objects.get()
    assert (event.topic, event.event_key) == ("order.updated", f"poll:order:727:{order['date_modified_gmt']}")
    run_worker("webhooks")
    assert Order.objects.get(channel=channel, external_id="727").platform_status == "processing"


def test_sync_channel_orders_needs_a_since(shopify):
    with pytest.raises(Exception, match="orders needs --since"):
        call_command("sync_channel", str(shopify[0].pk), "orders")


def test_a_shopee_order_missed_while_push_was_off_is_fetched_by_the_handler(
    httpserver, run_worker, django_capture_on_commit_callbacks
):
    channel = factories.shopee_channel(api_base_url=httpserver.url_for(""), access_token="tok-1")
    detail = fixture_json("shopee/api/get_order_detail.json")
    order_sn = detail["response"]["order_list"][0]["order_sn"]
    windows = []

    def order_list(request):
        windows.append((int(request.args["time_from"]), int(request.args["time_to"])))
        assert request.args["time_range_field"] == "update_time"
        body = {
            "error": "",
            "message": "",
            "response": {"more": False, "next_cursor": "", "order_list": [{"order_sn": order_sn}]},
        }
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v2/order/get_order_list").respond_with_handler(order_list)
    httpserver.expect_request("/api/v2/order/get_order_detail").respond_with_json(detail)
    httpserver.expect_request("/api/v2/product/get_item_list").respond_with_json(
        {"error": "", "response": {"item": [], "total_count": 0, "has_next_page": False}}
    )
    since = timezone.now() - timedelta(days=20)
    run = run_sync(
        run_worker,
        django_capture_on_commit_callbacks,
        channel_id=channel.pk,
        kind=SyncKind.RECONCILE,
        since=since,
    )
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert len(windows) == 2 and all(b - a <= 15 * 24 * 3600 for a, b in windows)  # Shopee's 15-day limit
    assert Order.objects.filter(channel=channel, external_id=order_sn).exists()


def test_reconciliation_is_started_when_due_and_once(shopify, django_capture_on_commit_callbacks):
    channel = shopify[0]
    factories.woocommerce_channel()  # no credentials: nothing to poll with
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile_due() == 1
        assert reconcile_due() == 0  # started within the interval
    assert SyncRun.objects.get().kind == SyncKind.RECONCILE and SyncRun.objects.get().channel == channel


def test_a_lost_subscriptions_gap_is_where_the_next_reconciliation_starts(shopify):
    channel = shopify[0]
    gap = timezone.now() - timedelta(days=3)
    WebhookSubscription.objects.create(
        channel=channel,
        topic="orders/create",
        callback_url=channel.webhook_url,
        state="missing",
        gap_since=gap,
    )
    assert reconcile_since(channel) == gap - timedelta(minutes=5)
