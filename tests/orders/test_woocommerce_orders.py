"""WooCommerce order.* webhooks into orders and stock."""

import copy
import json
from decimal import Decimal

import pytest

from channels_app.models import EventStatus, ProcessedWebhookEvent
from inventory.models import ChannelVariant, Reservation, ReservationStatus
from inventory.services import stock_move
from orders.models import Order
from tests.channels_app import factories
from tests.inventory.factories import assert_invariants, level, sku, warehouse
from tests.platforms import fixture_json, post_woocommerce

pytestmark = pytest.mark.django_db

CREATED = fixture_json("woocommerce/webhooks/order_created.json")  # status processing: paid
UPDATED = fixture_json("woocommerce/webhooks/order_updated.json")  # status completed


@pytest.fixture
def store():
    channel = factories.woocommerce_channel()
    main = warehouse(channel.organization)
    product = sku(channel.organization, "WOO-SINGLE", on_hand=5, at=main)
    for line in CREATED["line_items"]:
        ChannelVariant.objects.get_or_create(
            channel=channel,
            external_variant_id=str(line["variation_id"] or line["product_id"]),
            defaults={"sku": product},
        )
    return channel, main, product


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks, run_worker, store):
    channel = store[0]

    def deliver(payload, topic):
        body = json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = post_woocommerce(client, channel, topic, body, secret="woo-secret&1")
        run_worker("webhooks")
        return ProcessedWebhookEvent.objects.get(pk=response.json()["event"])

    return deliver


def test_the_recorded_order_maps_and_reserves_through_the_variant_mapping(store, deliver):
    channel, main, product = store
    event = deliver(CREATED, "order.created")
    assert event.status == EventStatus.COMPLETED
    order = Order.objects.get()
    assert (order.external_id, order.number, order.customer_name, order.email) == (
        "727",
        "727",
        "John Doe",
        "john.doe@example.com",
    )
    assert order.shipping_address["address_1"] == "969 Market"
    assert (order.currency, order.total, order.total_tax, order.subtotal) == (
        "USD",
        Decimal("29.35"),
        Decimal("1.35"),
        sum(Decimal(i["subtotal"]) for i in CREATED["line_items"]),
    )
    assert (order.financial_status, order.fulfillment_status, order.platform_status) == (
        "paid",
        "unfulfilled",
        "processing",
    )
    units = sum(line["quantity"] for line in CREATED["line_items"])
    assert level(product, main).reserved == units
    assert_invariants()


def test_completed_consumes_and_deleted_releases(store, deliver):
    channel, main, product = store
    deliver(CREATED, "order.created")
    deliver(UPDATED, "order.updated")
    assert Order.objects.get().fulfillment_status == "fulfilled"
    assert set(Reservation.objects.values_list("status", flat=True)) == {ReservationStatus.CONSUMED}
    units = sum(line["quantity"] for line in CREATED["line_items"])
    assert (level(product, main).on_hand, level(product, main).reserved) == (5 - units, 0)
    assert_invariants()


def test_a_deleted_order_releases_what_it_reserved(store, deliver):
    channel, main, product = store
    deliver(CREATED, "order.created")
    event = deliver({"id": 727}, "order.deleted")
    assert event.status == EventStatus.COMPLETED
    assert Order.objects.get().deleted_at is not None
    assert level(product, main).reserved == 0
    assert_invariants()


def test_an_older_update_after_a_newer_one_changes_nothing(store, deliver):
    deliver(UPDATED, "order.updated")
    older = copy.deepcopy(CREATED)  # modified 19:28:08, before the completed update at 19:30:35
    event = deliver(older, "order.created")
    assert event.status == EventStatus.IGNORED
    assert Order.objects.get().platform_status == "completed"


def test_a_line_dropped_from_the_order_gives_its_units_back_and_a_cancel_releases_the_rest(store, deliver):
    channel, main, product = store
    other = sku(channel.organization, "OTHER", on_hand=5, at=main)
    two_lines = copy.deepcopy(CREATED)
    two_lines["line_items"].append(
        two_lines["line_items"][0] | {"id": 999, "product_id": 555, "sku": "OTHER", "quantity": 1}
    )
    deliver(two_lines, "order.created")
    assert level(other, main).reserved == 1
    dropped = copy.deepcopy(CREATED) | {"date_modified_gmt": "2017-03-22T19:29:00"}  # line 999 removed
    deliver(dropped, "order.updated")
    assert level(other, main).reserved == 0
    cancelled = dropped | {"status": "cancelled", "date_modified_gmt": "2017-03-22T19:29:30"}
    deliver(cancelled, "order.updated")
    assert level(product, main).reserved == 0
    assert_invariants()


def test_a_trashed_order_restored_holds_its_stock_again(store, deliver):
    channel, main, product = store
    deliver(CREATED, "order.created")
    deliver({"id": 727}, "order.deleted")
    assert level(product, main).reserved == 0
    restored = fixture_json("woocommerce/webhooks/order_restored.json") | {
        "date_modified_gmt": "2017-03-23T00:00:00"
    }
    event = deliver(restored, "order.restored")
    assert event.status == EventStatus.COMPLETED
    order = Order.objects.get()
    assert order.deleted_at is None
    assert level(product, main).reserved == sum(line["quantity"] for line in CREATED["line_items"])
    assert_invariants()


def test_lines_map_with_their_items_and_unescaped_titles(store, deliver):
    order = copy.deepcopy(CREATED)
    order["line_items"][0]["name"] = "Ship Your Idea &ndash; Hoodie"
    deliver(order, "order.created")
    first = Order.objects.get().items.get(external_line_id=str(order["line_items"][0]["id"]))
    line = order["line_items"][0]
    assert (first.title, first.quantity, first.unit_price) == (
        "Ship Your Idea – Hoodie",
        line["quantity"],
        Decimal(line["subtotal"]) / line["quantity"],
    )
    assert first.sku == store[2]


def test_the_stores_stock_and_its_orders_use_the_same_warehouse(store, deliver, client):
    from channels_app.models import ChannelLocation

    channel, main, product = store
    shop_floor = warehouse(channel.organization, "floor", default=False)
    ChannelLocation.objects.create(channel=channel, external_id="store", warehouse=shop_floor)
    stock_move(sku_id=product.pk, warehouse_id=shop_floor.pk, quantity=5, reason="import")
    deliver(CREATED, "order.created")
    assert Order.objects.get().warehouse == shop_floor
    ChannelVariant.objects.create(channel=channel, sku=product, external_variant_id="794")
    stock = fixture_json("woocommerce/webhooks/product_updated.json") | {
        "manage_stock": True,
        "stock_quantity": 7,
    }
    deliver(stock, "product.updated")
    units = sum(line["quantity"] for line in CREATED["line_items"])
    assert (level(product, shop_floor).on_hand, level(product, shop_floor).reserved) == (7 + units, units)


def test_of_two_updates_stamped_the_same_second_the_one_received_later_wins(store):
    from channels_app.platforms.woocommerce import payloads
    from orders.services import order_sync

    channel = store[0]
    completed = payloads.order(UPDATED)
    processing = payloads.order(UPDATED | {"status": "processing"})  # same date_modified_gmt
    order_sync(channel=channel, data=completed, event_id=11)  # received second, processed first
    assert order_sync(channel=channel, data=processing, event_id=10).stale
    assert Order.objects.get().platform_status == "completed"
    assert not order_sync(channel=channel, data=processing, event_id=12).stale  # later: it applies
