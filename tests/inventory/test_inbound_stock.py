"""Stock reported by channels (Shopify inventory levels, WooCommerce products) into the ledger."""

import json

import pytest

from channels_app.models import ChannelLocation, EventStatus, MappingKind, ProcessedWebhookEvent
from inventory.models import ChannelVariant, StockMovement
from tests.channels_app import factories
from tests.inventory.factories import assert_invariants, level, sku, warehouse
from tests.platforms import fixture_json, shopify_headers, woocommerce_headers

pytestmark = pytest.mark.django_db

LEVEL = fixture_json(
    "shopify/webhooks/inventory_levels_update.json"
)  # item 271878346596884015 @ 24826418: 10


@pytest.fixture
def post(client, django_capture_on_commit_callbacks, run_worker):
    def post(path, body, headers):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(path, body, content_type="application/json", **headers)
        run_worker("webhooks")
        return ProcessedWebhookEvent.objects.get(pk=response.json()["event"])

    return post


def shopify_level(post, payload, event_id):
    body = json.dumps(payload).encode()
    headers = shopify_headers(
        secret=factories.SHOPIFY_SECRET,
        body=body,
        shop=factories.SHOPIFY_SHOP,
        topic="inventory_levels/update",
        event_id=event_id,
    )
    return post("/webhooks/shopify/", body, headers)


def test_a_shopify_inventory_level_sets_the_mapped_warehouse_through_the_ledger(post):
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    item = sku(channel.organization, "AVIATOR", on_hand=3, at=main)
    ChannelVariant.objects.create(
        channel=channel, sku=item, external_variant_id="1", external_inventory_item_id="271878346596884015"
    )
    ChannelLocation.objects.create(channel=channel, external_id="24826418", warehouse=main)
    event = shopify_level(post, LEVEL, "e1")
    assert event.status == EventStatus.COMPLETED
    assert level(item, main).on_hand == 10
    movement = StockMovement.objects.latest("pk")
    assert (movement.quantity, movement.reason, movement.reference) == (7, "channel", f"event:{event.pk}")
    older = LEVEL | {"available": 99, "updated_at": "2021-12-30T00:00:00Z"}
    stale = shopify_level(post, older, "e2")
    assert stale.status == EventStatus.IGNORED
    assert level(item, main).on_hand == 10
    assert_invariants()


def test_an_unmapped_location_waits_for_its_mapping_not_guessed(post):
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    item = sku(channel.organization, "AVIATOR", on_hand=3, at=main)
    ChannelVariant.objects.create(
        channel=channel, sku=item, external_variant_id="1", external_inventory_item_id="271878346596884015"
    )
    event = shopify_level(post, LEVEL, "e1")
    assert (event.status, event.mapping_kind, event.mapping_ref) == (
        EventStatus.NEEDS_MAPPING,
        MappingKind.LOCATION,
        "24826418",
    )
    assert "location 24826418" in event.error_message and "not mapped" in event.error_message
    assert level(item, main).on_hand == 3


def test_an_unknown_inventory_item_waits_for_its_mapping_with_its_reason(post):
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    ChannelLocation.objects.create(channel=channel, external_id="24826418", warehouse=main)
    event = shopify_level(post, LEVEL, "e1")
    assert (event.status, event.mapping_kind, event.mapping_ref) == (
        EventStatus.NEEDS_MAPPING,
        MappingKind.INVENTORY_ITEM,
        "271878346596884015",
    )
    assert event.error_message.startswith("no SKU maps Shopify inventory item 271878346596884015")
    assert not StockMovement.objects.exists()


def test_a_woocommerce_product_update_sets_its_stock(post):
    channel = factories.woocommerce_channel()
    main = warehouse(channel.organization)
    item = sku(channel.organization, "PREMIUM", on_hand=1, at=main)
    ChannelVariant.objects.create(channel=channel, sku=item, external_variant_id="794")
    product = fixture_json("woocommerce/webhooks/product_updated.json")
    untracked = post(
        f"/webhooks/woocommerce/{channel.pk}/",
        json.dumps(product).encode(),
        woocommerce_headers(
            secret="woo-secret&1", body=json.dumps(product).encode(), topic="product.updated"
        ),
    )
    assert untracked.status == EventStatus.IGNORED  # the recorded product does not manage stock
    product.update(manage_stock=True, stock_quantity=12, date_modified_gmt="2017-03-24T00:00:00")
    body = json.dumps(product).encode()
    event = post(
        f"/webhooks/woocommerce/{channel.pk}/",
        body,
        woocommerce_headers(secret="woo-secret&1", body=body, topic="product.updated"),
    )
    assert event.status == EventStatus.COMPLETED
    assert level(item, main).on_hand == 12
    assert_invariants()


def test_an_untracked_shopify_inventory_item_is_ignored(post):
    factories.shopify_channel()
    event = shopify_level(post, LEVEL | {"available": None}, "e1")
    assert (event.status, event.ignored_reason) == (
        EventStatus.IGNORED,
        "Shopify does not track this inventory item",
    )
