"""The variant picker: a merchant maps a SKU to a variant chosen from the channel's own list,
fetched through the client registry from a local server answering in each platform's shapes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from channels_app.models import EventStatus, MappingKind, ProcessedWebhookEvent
from inventory.models import ChannelVariant
from tests.channels_app import factories
from tests.inventory.factories import sku, warehouse
from tests.platforms import fixture_json, shopify_cost, shopify_graphql_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(client):
    call_command("create_org", "acme")
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme")
    client.force_login(User.objects.get(username="wile"))
    return client


def shopify_variant(vid: int, sku_code: str, title: str, product: str) -> dict:
    """A productVariants node as Shopify answers it for the picker's query."""
    return {
        "id": f"gid://shopify/ProductVariant/{vid}",
        "sku": sku_code,
        "title": title,
        "inventoryItem": {"id": f"gid://shopify/InventoryItem/{vid + 1000}"},
        "product": {"id": "gid://shopify/Product/108828309", "title": product},
    }


def test_a_merchant_searches_shopifys_variants_and_maps_a_sku_to_one(merchant, httpserver, run_worker):
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    boot = sku(channel.organization, "BOOT-42")
    # A stock report already waits for the inventory item of the variant the merchant will pick.
    waiting = ProcessedWebhookEvent.objects.create(
        source="shopify",
        channel=channel,
        topic="inventory_levels/update",
        event_key="k1",
        status=EventStatus.NEEDS_MAPPING,
        mapping_kind=MappingKind.INVENTORY_ITEM,
        mapping_ref="40001042",
        payload={},
    )
    answer = {
        "data": {
            "productVariants": {
                "nodes": [
                    shopify_variant(40000042, "BOOT-42", "42", "Trail boot"),
                    shopify_variant(40000043, "BOOT-43", "43", "Trail boot"),
                ]
            }
        },
        "extensions": shopify_cost(requested=152),
    }
    httpserver.expect_request(shopify_graphql_path(), method="POST").respond_with_json(answer)
    url = reverse("admin:channels_app_channel_variants", args=[channel.pk])

    page = merchant.get(url, {"sku": boot.pk, "q": 'trail "boot'}).content.decode()
    assert "Trail boot / 42" in page and "Trail boot / 43" in page and "Map BOOT-42 here" in page
    sent = httpserver.log[0][0].get_json()
    assert "productVariants" in sent["query"]
    assert sent["variables"] == {"first": 50, "query": "trail boot"}  # the quote cannot end the term

    response = merchant.post(
        f"{url}?sku={boot.pk}&q=trail", {"sku": boot.pk, "variant": "40000042"}, follow=True
    )
    body = response.content.decode()
    assert "Mapped SKU BOOT-42 to Trail boot / 42 (variant 40000042): 1 waiting event runs again." in body
    mapped = ChannelVariant.objects.get(channel=channel)
    assert (
        mapped.sku,
        mapped.external_variant_id,
        mapped.external_product_id,
        mapped.external_inventory_item_id,
    ) == (
        boot,
        "40000042",
        "108828309",
        "40001042",
    )
    waiting.refresh_from_db()
    assert waiting.status == EventStatus.ENQUEUED  # replayed: on the queue, as ops' re-process does
    assert "BOOT-42</td>" in merchant.get(url, {"sku": boot.pk}).content.decode()  # shown as mapped


def test_a_variant_not_in_the_channels_answer_is_not_mapped(merchant, httpserver):
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    boot = sku(channel.organization, "BOOT-42")
    answer = {"data": {"productVariants": {"nodes": []}}, "extensions": shopify_cost(requested=152)}
    httpserver.expect_request(shopify_graphql_path(), method="POST").respond_with_json(answer)
    url = reverse("admin:channels_app_channel_variants", args=[channel.pk])
    response = merchant.post(f"{url}?sku={boot.pk}", {"sku": boot.pk, "variant": "999"}, follow=True)
    assert "not in the channel&#x27;s list" in response.content.decode()
    assert not ChannelVariant.objects.exists()


def test_a_merchant_picks_a_woocommerce_variation_found_by_search(merchant, httpserver):
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck_test", consumer_secret="cs_test"
    )
    warehouse(channel.organization)
    green = sku(channel.organization, "SHIP-GREEN")
    products = fixture_json("woocommerce/api/products_list.json")["list_all_products"]
    variations = fixture_json("woocommerce/api/variations_list.json")["list_all_product_variations"]
    fields = ("id", "name", "type", "sku", "variations")
    # What the store answers with _fields: the documented product, its variation ids filled in.
    ship = {name: products[0][name] for name in fields} | {"variations": [733, 732]}
    httpserver.expect_request(
        "/wp-json/wc/v3/products",
        query_string={"per_page": "20", "_fields": "id,name,type,sku,variations", "search": "ship"},
    ).respond_with_json([ship])
    httpserver.expect_request("/wp-json/wc/v3/products/799/variations").respond_with_json(
        variations, headers={"X-WP-Total": "2", "X-WP-TotalPages": "1"}
    )
    url = reverse("admin:channels_app_channel_variants", args=[channel.pk])
    page = merchant.get(url, {"sku": green.pk, "q": "ship"}).content.decode()
    assert "Ship Your Idea / Green" in page and "Ship Your Idea / Black" in page

    merchant.post(f"{url}?sku={green.pk}&q=ship", {"sku": green.pk, "variant": "733"})
    mapped = ChannelVariant.objects.get(channel=channel)
    assert (mapped.sku, mapped.external_variant_id, mapped.external_product_id) == (green, "733", "799")


def test_a_channel_without_credentials_says_so_on_the_picker(merchant):
    channel = factories.shopify_channel()
    url = reverse("admin:channels_app_channel_variants", args=[channel.pk])
    page = merchant.get(url).content.decode()
    assert "Could not list variants" in page and "has no access token" in page
    assert merchant.get(url, {"sku": "x'1"}).status_code == 200  # a SKU id typed by hand: none chosen
