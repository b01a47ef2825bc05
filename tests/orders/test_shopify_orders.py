"""Shopify orders/* webhooks into orders and stock, through the real intake and a real worker."""

import copy
import json
from decimal import Decimal

import pytest

from channels_app.models import ChannelLocation, EventStatus, ProcessedWebhookEvent
from inventory.models import ChannelVariant, Reservation, ReservationStatus
from orders.models import LineIssue, Order
from tests.channels_app import factories
from tests.inventory.factories import assert_invariants, level, sku, warehouse
from tests.platforms import SHOPIFY_WEBHOOK_VERSIONS, fixture_json, post_shopify, shopify_order_at

pytestmark = pytest.mark.django_db

SAMPLE = fixture_json("shopify/webhooks/orders_create.json")  # cancelled and voided as recorded
CODES = [line["sku"] for line in SAMPLE["line_items"]]


def paid(updated_at="2022-01-01T10:00:00-05:00", **changes):
    order = copy.deepcopy(SAMPLE)
    order.update(financial_status="paid", cancelled_at=None, cancel_reason=None, updated_at=updated_at)
    order.update(changes)
    return order


@pytest.fixture
def shop():
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    skus = {code: sku(channel.organization, code, on_hand=10, at=main) for code in CODES}
    return channel, main, skus


@pytest.fixture(params=SHOPIFY_WEBHOOK_VERSIONS)
def deliver(request, client, django_capture_on_commit_callbacks, run_worker):
    """Each test runs with the payloads of every webhook API version the hub reads."""
    version = request.param
    counter = iter(range(10_000))

    def deliver(payload, topic="orders/updated", event_id=None):
        if topic.startswith("orders/"):
            payload = shopify_order_at(version, payload)
        body = json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = post_shopify(
                client,
                None,
                topic,
                body,
                event_id=event_id or f"ev-{next(counter)}",
                api_version=version,
                secret=factories.SHOPIFY_SECRET,
                shop=factories.SHOPIFY_SHOP,
            )
        run_worker("webhooks")
        event = ProcessedWebhookEvent.objects.get(pk=response.json()["event"])
        return event

    return deliver


def test_the_recorded_order_maps_to_an_order_with_its_customer_address_items_and_totals(shop, deliver):
    channel, main, skus = shop
    event = deliver(SAMPLE, topic="orders/cancelled")
    assert event.status == EventStatus.COMPLETED
    order = Order.objects.get()
    assert (order.external_id, order.number, order.channel, order.organization) == (
        "820982911946154508",
        "#9999",
        channel,
        channel.organization,
    )
    assert (order.customer_name, order.email) == ("John Smith", "jon@example.com")
    assert order.shipping_address["address1"] == "123 Shipping Street"
    assert order.billing_address["city"] == "Shippington"
    assert (order.currency, order.subtotal, order.total, order.total_tax) == (
        "USD",
        Decimal("414.95"),
        Decimal("414.95"),
        Decimal("0.00"),
    )
    assert (order.financial_status, order.fulfillment_status, order.cancel_reason) == (
        "voided",
        "unfulfilled",
        "customer",
    )
    assert order.is_cancelled
    items = list(order.items.order_by("pk"))
    assert [(i.sku_code, i.quantity, i.unit_price, i.title) for i in items][0] == (
        "SKU2006-001",
        1,
        Decimal("89.99"),
        "Aviator sunglasses",
    )
    assert all(i.sku == skus[i.sku_code] for i in items)
    assert Reservation.objects.count() == 0  # a voided order holds nothing


def test_a_paid_order_reserves_each_line_and_a_cancellation_releases_them(shop, deliver):
    channel, main, skus = shop
    deliver(paid(), topic="orders/paid")
    assert Reservation.objects.filter(status=ReservationStatus.OPEN).count() == len(CODES)
    assert level(skus["SKU2006-001"], main).available == 9
    deliver(
        paid(updated_at="2022-01-02T10:00:00-05:00", cancelled_at="2022-01-02T10:00:00-05:00"),
        topic="orders/cancelled",
    )
    assert Reservation.objects.filter(status=ReservationStatus.RELEASED).count() == len(CODES)
    assert level(skus["SKU2006-001"], main).available == 10
    assert_invariants()


def test_replaying_an_event_changes_nothing(shop, deliver):
    channel, main, skus = shop
    deliver(paid(), topic="orders/paid", event_id="same")
    again = deliver(paid(), topic="orders/paid", event_id="same")  # the same delivery: a duplicate
    assert again.duplicate_count == 1
    deliver(paid(), topic="orders/updated")  # the same state under another event
    assert Reservation.objects.count() == len(CODES)
    assert level(skus["SKU2006-001"], main).reserved == 1
    assert_invariants()


def test_paid_arriving_before_create_and_an_old_update_after_a_newer_one_are_handled(shop, deliver):
    channel, main, skus = shop
    deliver(paid(updated_at="2022-01-02T00:00:00Z"), topic="orders/paid")
    late_create = deliver(
        paid(updated_at="2022-01-01T00:00:00Z", financial_status="pending"), topic="orders/create"
    )
    assert (late_create.status, late_create.ignored_reason) == (
        EventStatus.IGNORED,
        "stale update: older than the stored order",
    )
    order = Order.objects.get()
    assert order.financial_status == "paid"
    assert Reservation.objects.filter(status=ReservationStatus.OPEN).count() == len(CODES)


def test_a_fulfilled_line_consumes_its_reservation_and_a_later_cancel_keeps_it_consumed(shop, deliver):
    channel, main, skus = shop
    deliver(paid(), topic="orders/paid")
    fulfilled = paid(updated_at="2022-01-03T00:00:00Z", fulfillment_status="partial")
    fulfilled["line_items"][0]["fulfillment_status"] = "fulfilled"
    deliver(fulfilled, topic="orders/updated")
    first = skus["SKU2006-001"]
    assert (level(first, main).on_hand, level(first, main).reserved) == (9, 0)
    cancelled = copy.deepcopy(fulfilled)
    cancelled.update(updated_at="2022-01-04T00:00:00Z", cancelled_at="2022-01-04T00:00:00Z")
    deliver(cancelled, topic="orders/cancelled")
    assert (level(first, main).on_hand, level(first, main).reserved) == (9, 0)
    assert Reservation.objects.get(sku=first).status == ReservationStatus.CONSUMED
    assert level(skus["SKU2006-020"], main).reserved == 0
    assert_invariants()


def test_an_unknown_sku_is_kept_and_flagged_never_dropped(shop, deliver):
    channel, main, skus = shop
    order = paid()
    order["line_items"][0]["sku"] = "NOT-IN-CATALOG"
    event = deliver(order, topic="orders/paid")
    assert event.status == EventStatus.COMPLETED
    stored = Order.objects.get()
    assert stored.needs_attention
    unknown = stored.items.get(sku_code="NOT-IN-CATALOG")
    assert (unknown.sku, unknown.issue) == (None, LineIssue.UNRESOLVED_SKU)
    assert Reservation.objects.count() == len(CODES) - 1


def test_not_enough_stock_flags_the_line_backordered(shop, deliver):
    channel, main, skus = shop
    order = paid()
    order["line_items"][0]["quantity"] = order["line_items"][0]["current_quantity"] = 11
    deliver(order, topic="orders/paid")
    item = Order.objects.get().items.get(sku_code="SKU2006-001")
    assert item.issue == LineIssue.BACKORDERED
    assert level(skus["SKU2006-001"], main).reserved == 0
    channel.allow_backorders = True
    channel.save()
    deliver(paid(updated_at="2022-01-05T00:00:00Z", line_items=order["line_items"]), topic="orders/updated")
    assert level(skus["SKU2006-001"], main).available == -1
    assert_invariants()


def test_lines_resolve_by_the_variant_mapping_first_and_reserve_at_the_locations_warehouse(shop, deliver):
    channel, main, skus = shop
    store = warehouse(channel.organization, "store", default=False)
    ChannelLocation.objects.create(channel=channel, external_id="24826418", warehouse=store)
    other = sku(channel.organization, "MAPPED", on_hand=4, at=store)
    ChannelVariant.objects.create(channel=channel, sku=other, external_variant_id="4242")
    order = paid(location_id=24826418)
    order["line_items"][0]["variant_id"] = 4242
    deliver(order, topic="orders/paid")
    stored = Order.objects.get()
    assert stored.warehouse == store
    assert stored.items.get(external_variant_id="4242").sku == other
    assert level(other, store).reserved == 1


def test_a_line_removed_by_an_order_edit_gives_its_units_back(shop, deliver):
    channel, main, skus = shop
    deliver(paid(), topic="orders/paid")
    edited = paid(updated_at="2022-01-06T00:00:00Z")
    edited["line_items"][0]["current_quantity"] = 0
    deliver(edited, topic="orders/updated")
    assert level(skus["SKU2006-001"], main).reserved == 0
    assert level(skus["SKU2006-020"], main).reserved == 1
    assert_invariants()


def test_a_line_shipped_unpaid_leaves_the_warehouse_once(shop, deliver):
    channel, main, skus = shop
    shipped = paid(financial_status="pending", fulfillment_status="partial")
    shipped["line_items"][0]["fulfillment_status"] = "fulfilled"
    deliver(shipped, topic="orders/updated")
    deliver(shipped | {"updated_at": "2022-01-02T00:00:00Z"}, topic="orders/updated")  # told again
    first = skus["SKU2006-001"]
    assert (level(first, main).on_hand, level(first, main).reserved) == (9, 0)
    assert level(skus["SKU2006-020"], main).reserved == 0  # unpaid: nothing held
    assert_invariants()


def test_a_backordered_line_that_ships_leaves_the_warehouse(shop, deliver):
    channel, main, skus = shop
    order = paid()
    order["line_items"][0]["quantity"] = order["line_items"][0]["current_quantity"] = 11
    deliver(order, topic="orders/paid")
    shipped = copy.deepcopy(order) | {"updated_at": "2022-01-07T00:00:00Z"}
    shipped["line_items"][0]["fulfillment_status"] = "fulfilled"
    deliver(shipped, topic="orders/updated")
    assert level(skus["SKU2006-001"], main).on_hand == -1  # shipped from stock the hub did not know
    assert_invariants()
