"""Catalog products pushed to the stores that take the catalog (Channel.push_catalog), against a
local server speaking Shopify's GraphQL productSet and WooCommerce's REST product endpoints."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from django.db import transaction
from werkzeug.wrappers import Request, Response

from bench.feedgen import Feed
from catalog_sync.models import ListingStatus, ProductListing, Supplier
from catalog_sync.pipeline import run_start
from channels_app.models import Organization
from inventory.models import SKU, ChannelVariant, Product
from tests.channels_app import factories
from tests.platforms import shopify_cost, shopify_graphql_path

pytestmark = pytest.mark.django_db(transaction=True)
QUEUES = ("catalog-supplier", "catalog-family", "catalog-images", "catalog-push")


@pytest.fixture
def feed(httpserver):
    return Feed(httpserver.url_for("/"), families=2, variants=2, images=1)


def serve_feed(httpserver, feed: Feed) -> None:
    """Last: the platform's own paths are registered first and win."""
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)


@pytest.fixture
def sync(run_worker, feed):
    organization, _ = Organization.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
    supplier = Supplier.objects.create(
        organization=organization, code="A360", name="A360", feed_url=feed.index_url
    )

    def run() -> None:
        with transaction.atomic():
            run_start(supplier_id=supplier.pk)
        run_worker(*QUEUES)

    return run


class ShopifyStore:
    """productSet as Shopify answers it: the product with its variants' ids, made or updated."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.products: dict[str, int] = {}  # handle -> id

    def respond(self, request: Request) -> Response:
        body = json.loads(request.data)
        self.calls.append(body)
        product = body["variables"]["input"]
        pid = self.products.setdefault(product["handle"], 8000 + len(self.products))
        nodes = [
            {
                "id": f"gid://shopify/ProductVariant/{pid * 10 + n}",
                "sku": variant["sku"],
                "inventoryItem": {"id": f"gid://shopify/InventoryItem/{pid * 10 + n}"},
            }
            for n, variant in enumerate(product["variants"])
        ]
        answer = {
            "data": {
                "productSet": {
                    "product": {"id": f"gid://shopify/Product/{pid}", "variants": {"nodes": nodes}},
                    "userErrors": [],
                }
            },
            "extensions": shopify_cost(),
        }
        return Response(json.dumps(answer), content_type="application/json")


def test_changed_products_go_to_a_shopify_store_that_takes_the_catalog_and_only_changes_follow(
    httpserver, feed, sync
):
    store = ShopifyStore()
    httpserver.expect_request(shopify_graphql_path(), method="POST").respond_with_handler(store.respond)
    serve_feed(httpserver, feed)
    channel = factories.shopify_channel(
        api_base_url=httpserver.url_for(""), access_token="shpat_x", push_catalog=True
    )

    sync()

    assert len(store.calls) == 2  # one productSet per family's product
    product = Product.objects.get(families__family_key="ART-00001")
    call = next(c for c in store.calls if c["variables"]["input"]["handle"] == f"hub-{product.pk}")
    assert call["variables"]["identifier"] == {"handle": f"hub-{product.pk}"}
    sent = call["variables"]["input"]
    assert sent["title"] == "Mug ART-00001"  # the family's title, not its first variant's name
    assert sent["descriptionHtml"] == "<p>A mug of family ART-00001.</p>"
    assert sent["productOptions"] == [
        {"name": "size", "position": 1, "values": [{"name": "0"}, {"name": "1"}]}
    ]
    assert sent["variants"] == [
        {"sku": "ART-00001-0", "optionValues": [{"optionName": "size", "name": "0"}], "price": "11.50"},
        {"sku": "ART-00001-1", "optionValues": [{"optionName": "size", "name": "1"}], "price": "11.50"},
    ]
    assert sent["files"] == [{"originalSource": feed.url("/images/2.png"), "contentType": "IMAGE"}]
    listing = ProductListing.objects.get(channel=channel, product=product)
    assert listing.status == ListingStatus.PUSHED and listing.pushed_at is not None
    assert listing.external_product_id == str(store.products[f"hub-{product.pk}"])
    mapped = ChannelVariant.objects.get(channel=channel, sku__code="ART-00001-1")
    assert mapped.external_product_id == listing.external_product_id and mapped.external_inventory_item_id

    store.calls.clear()
    feed.change("/records/ART-00001-1.json", price="19.99")
    sync()

    assert len(store.calls) == 1  # the other family did not change
    update = store.calls[0]["variables"]
    assert update["identifier"] == {"id": f"gid://shopify/Product/{listing.external_product_id}"}
    assert "files" not in update["input"]  # same images: not sent again (Shopify would duplicate them)
    assert update["input"]["variants"][1]["price"] == "19.99"
    assert (
        update["input"]["variants"][1]["id"] == f"gid://shopify/ProductVariant/{mapped.external_variant_id}"
    )


def test_a_store_without_the_flag_gets_nothing_and_the_stores_own_listings_are_left_alone(
    httpserver, feed, sync
):
    store = ShopifyStore()
    httpserver.expect_request(shopify_graphql_path(), method="POST").respond_with_handler(store.respond)
    serve_feed(httpserver, feed)
    factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_x")  # flag off
    taking = factories.shopify_channel(
        shop_identifier="other.myshopify.com",
        api_base_url=httpserver.url_for(""),
        access_token="t",
        push_catalog=True,
    )
    # The store already sells ART-00000-0 (mapped by an import of its own products).
    own = SKU.objects.create(organization=taking.organization, code="ART-00000-0")
    ChannelVariant.objects.create(
        channel=taking, sku=own, external_variant_id="777", external_product_id="77"
    )

    sync()

    assert (
        len(store.calls) == 1 and store.calls[0]["variables"]["input"]["variants"][0]["sku"] == "ART-00001-0"
    )
    skipped = ProductListing.objects.get(status=ListingStatus.SKIPPED)
    own.refresh_from_db()
    assert skipped.product == own.product and "the store's own listing" in skipped.error
    assert ProductListing.objects.count() == 2  # none for the channel without the flag


def test_a_woocommerce_store_gets_a_variable_product_with_its_variations(httpserver, feed, sync):
    created = []
    variation_ids = itertools.count(900)

    def create_product(request: Request) -> Response:
        created.append(json.loads(request.data))
        return Response(
            json.dumps({"id": 500 + len(created), **created[-1]}), content_type="application/json"
        )

    def batch(request: Request) -> Response:
        body = json.loads(request.data)
        answers = [{"id": next(variation_ids), "sku": item["sku"]} for item in body["create"]]
        return Response(json.dumps({"create": answers, "update": []}), content_type="application/json")

    httpserver.expect_request("/wp-json/wc/v3/products", method="GET").respond_with_json([])
    httpserver.expect_request("/wp-json/wc/v3/products", method="POST").respond_with_handler(create_product)
    httpserver.expect_request(
        re.compile(r"/wp-json/wc/v3/products/\d+/variations"), method="GET"
    ).respond_with_json([], headers={"X-WP-Total": "0", "X-WP-TotalPages": "1"})
    httpserver.expect_request(
        re.compile(r"/wp-json/wc/v3/products/\d+/variations/batch"), method="POST"
    ).respond_with_handler(batch)
    serve_feed(httpserver, feed)
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck", consumer_secret="cs", push_catalog=True
    )

    sync()

    assert len(created) == 2
    product = Product.objects.get(families__family_key="ART-00000")
    sent = next(c for c in created if c["sku"] == f"hub-{product.pk}")
    assert sent["type"] == "variable" and sent["name"] == "Mug ART-00000"  # the family's title
    assert sent["attributes"] == [{"name": "size", "visible": True, "variation": True, "options": ["0", "1"]}]
    assert sent["images"] == [{"src": feed.url("/images/1.png")}]
    listing = ProductListing.objects.get(channel=channel, product=product)
    assert listing.status == ListingStatus.PUSHED
    assert set(
        ChannelVariant.objects.filter(
            channel=channel, external_product_id=listing.external_product_id
        ).values_list("sku__code", flat=True)
    ) == {"ART-00000-0", "ART-00000-1"}


def test_shopee_listings_are_not_created_and_say_why(httpserver, feed, sync):
    serve_feed(httpserver, feed)
    factories.shopee_channel(api_base_url=httpserver.url_for(""), push_catalog=True)

    sync()

    listings = ProductListing.objects.all()
    assert len(listings) == 2 and all(listing.status == ListingStatus.UNSUPPORTED for listing in listings)
    assert "Seller Centre" in listings[0].error


@pytest.mark.parametrize("new_channel", [False, True], ids=["turned-on", "added-with-it-on"])
def test_turning_the_flag_on_pushes_the_catalog_so_far(httpserver, feed, sync, run_worker, rf, new_channel):
    from django.contrib import admin
    from django.contrib.auth.models import User

    from channels_app.admin import ChannelForm
    from channels_app.models import Channel

    store = ShopifyStore()
    httpserver.expect_request(shopify_graphql_path(), method="POST").respond_with_handler(store.respond)
    serve_feed(httpserver, feed)
    sync()  # the catalog, before any store takes it
    channel = None if new_channel else factories.shopify_channel(api_base_url=httpserver.url_for(""))
    data = {
        "organization": Organization.objects.get(slug="acme").pk,
        "name": "Snow Devil",
        "platform": "shopify",
        "shop_identifier": factories.SHOPIFY_SHOP,
        "api_base_url": httpserver.url_for(""),
        "access_token": "shpat_x",
        "push_catalog": "on",
        "is_active": "on",
    }
    form = ChannelForm(data=data, instance=channel)
    assert form.is_valid(), form.errors
    request = rf.post("/admin/channels_app/channel/")
    request.user = User.objects.create_superuser("root", password="pw")
    with transaction.atomic():  # as the admin's change view saves
        saved = form.save(commit=False)
        admin.site._registry[Channel].save_model(request, saved, form, change=not new_channel)
    run_worker("catalog-push")

    assert len(store.calls) == 2
    assert ProductListing.objects.filter(channel=saved, status=ListingStatus.PUSHED).count() == 2


def test_a_push_redis_lost_is_swept_up(httpserver, feed, sync, run_worker):
    from datetime import timedelta

    from django.utils import timezone

    from catalog_sync.push import listings_sweep
    from config.jobs import discard_job

    store = ShopifyStore()
    httpserver.expect_request(shopify_graphql_path(), method="POST").respond_with_handler(store.respond)
    serve_feed(httpserver, feed)
    factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_x", push_catalog=True)
    sync()
    feed.change("/records/ART-00000-0.json", price="5.00")
    with transaction.atomic():
        run_start(supplier_id=Supplier.objects.get().pk)
    run_worker("catalog-supplier", "catalog-family")  # the push is enqueued, then Redis loses it
    listing = ProductListing.objects.get(status=ListingStatus.PENDING)
    discard_job(listing.job_id)
    assert listings_sweep() == 0  # too recent: its job may still be on the way
    ProductListing.objects.filter(pk=listing.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

    assert listings_sweep() == 1
    run_worker("catalog-push")

    listing.refresh_from_db()
    assert (
        listing.status == ListingStatus.PUSHED
        and store.calls[-1]["variables"]["input"]["variants"][0]["price"] == "5.00"
    )


def test_store_options_are_the_fewest_attributes_that_tell_the_variants_apart():
    from catalog_sync.push import _options

    organization = Organization.objects.create(name="Acme", slug="opts")

    def skus(*attributes):
        return [
            SKU(organization=organization, code=f"S{n}", title=f"Mug {n}", attributes=a)
            for n, a in enumerate(attributes)
        ]

    varied = skus(
        {"size": "M", "colour": "red", "ean": "1", "weight_g": "300"},
        {"size": "L", "colour": "red", "ean": "2", "weight_g": "310"},
        {"size": "M", "colour": "blue", "ean": "3", "weight_g": "320"},
        {"size": "L", "colour": "blue", "ean": "4", "weight_g": "330"},
    )
    names, options = _options(varied)
    assert names == ("colour", "size")  # not the EAN or weight, unique per variant
    assert options["S3"] == (("colour", "blue"), ("size", "L"))
    same = skus({"material": "steel"}, {"material": "steel"})
    assert _options(same) == (("Variant",), {"S0": (("Variant", "Mug 0"),), "S1": (("Variant", "Mug 1"),)})
    assert _options(skus({"size": "M"})) == ((), {"S0": ()})
    assert _options(skus({"width": "10"}, {"width": "12"}))[0] == ("width",)  # a word, not "id"
