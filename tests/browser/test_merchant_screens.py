"""A merchant's store screens in a real browser: a stock report waiting for its location is mapped
on the mapping screen and runs again; an order reads as an order (addresses, problems, search)."""

from __future__ import annotations

import json

import pytest
import requests
from playwright.sync_api import expect

from channels_app.models import EventStatus, ProcessedWebhookEvent
from channels_app.platforms.shopify import payloads as shopify
from inventory.models import ChannelVariant
from orders.services import order_sync
from tests.channels_app import factories
from tests.inventory.factories import level, sku, warehouse
from tests.platforms import as_http_headers, fixture_json, shopify_headers

pytestmark = pytest.mark.django_db(transaction=True)

LEVEL = fixture_json("shopify/webhooks/inventory_levels_update.json")  # item 271878346596884015 @ 24826418


def test_a_merchant_maps_a_waiting_location_and_its_stock_report_runs_again(
    page, live_server, log_in, staff, run_worker, screenshot
):
    channel = factories.shopify_channel()
    main = warehouse(channel.organization, "main")
    item = sku(channel.organization, "AVIATOR", on_hand=3, at=main)
    ChannelVariant.objects.create(
        channel=channel, sku=item, external_variant_id="1", external_inventory_item_id="271878346596884015"
    )
    body = json.dumps(LEVEL).encode()
    headers = shopify_headers(
        secret=factories.SHOPIFY_SECRET,
        body=body,
        shop=factories.SHOPIFY_SHOP,
        topic="inventory_levels/update",
        event_id="browser-map-1",
    )
    response = requests.post(
        f"{live_server.url}/webhooks/shopify/", data=body, headers=as_http_headers(headers), timeout=10
    )
    event_id = response.json()["event"]
    run_worker("webhooks")
    assert ProcessedWebhookEvent.objects.get(pk=event_id).status == EventStatus.NEEDS_MAPPING

    staff("wile", "--org", "acme")
    log_in(page, "wile")
    page.goto(f"{live_server.url}/admin/channels_app/channel/{channel.pk}/change/")
    page.click("text=What needs mapping")
    row = page.locator("#needs_mapping tbody tr", has_text="24826418")
    expect(row).to_contain_text("Location")
    expect(row).to_contain_text(channel.name)
    screenshot("merchant-needs-mapping")
    row.locator("a", has_text="Map").click()
    page.select_option("#id_target", label="Main")
    page.click("input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text(
        "Mapped location 24826418 to Main: 1 waiting event runs again."
    )
    expect(page.locator("#needs_mapping")).to_contain_text("Nothing waits for a mapping.")
    run_worker("webhooks")
    assert ProcessedWebhookEvent.objects.get(pk=event_id).status == EventStatus.COMPLETED
    assert level(item, main).on_hand == 10


def test_a_merchant_reads_an_order_with_its_address_and_problems_and_finds_it_by_a_line(
    page, live_server, log_in, staff, screenshot
):
    channel = factories.shopify_channel()
    warehouse(channel.organization, "main")
    order = order_sync(
        channel=channel, data=shopify.order(fixture_json("shopify/webhooks/orders_create.json"))
    ).order
    staff("wile", "--org", "acme")
    log_in(page, "wile")

    page.goto(f"{live_server.url}/admin/orders/order/")
    page.fill("#searchbar", "lounger")
    page.press("#searchbar", "Enter")
    row = page.locator("#result_list tbody tr", has_text="#9999")
    expect(row.locator(".field-problem")).to_contain_text("5 lines: SKU not found")
    expect(row.locator(".field-problem img[alt=Problem]")).to_be_visible()
    expect(row.locator("img[alt=True]")).to_have_count(0)  # no green tick for a problem
    screenshot("merchant-orders")

    row.locator("a", has_text="#9999").click()
    shipping = page.locator(".field-shipping address")
    expect(shipping).to_contain_text("Steve Shipper")
    expect(shipping).to_contain_text("40003 Shippington, Kentucky")
    expect(page.locator("#content-main")).not_to_contain_text("None")
    expect(page.locator("div.field-problem")).to_contain_text("5 lines: SKU not found")
    expect(page.locator("#content-main img[alt=Problem]")).to_have_count(6)  # the order, its 5 lines
    expect(page.locator("#content-main img[alt=True]")).to_have_count(0)
    expect(page.locator("#content-main")).to_contain_text("SKU not found")
    screenshot("merchant-order")
    assert f"/admin/orders/order/{order.pk}/change/" in page.url


def test_a_new_channel_shows_the_fields_of_the_platform_chosen(page, live_server, log_in, staff):
    factories.shopify_channel()  # makes the organization the merchant belongs to
    staff("wile", "--org", "acme")
    log_in(page, "wile")
    page.goto(f"{live_server.url}/admin/channels_app/channel/add/")
    expect(page.locator("#id_shop_identifier")).to_have_count(0)  # the platform first
    page.fill("#id_name", "Acme on Shopee")
    page.select_option("#id_platform", "shopee")
    expect(page.locator("#id_partner_id")).to_be_visible()
    expect(page.locator("label[for=id_webhook_secret]")).to_contain_text("Partner key")
    expect(page.locator("#id_consumer_key")).to_have_count(0)
    expect(page.locator("#id_name")).to_have_value("Acme on Shopee")  # what was typed is kept
    page.select_option("#id_platform", "twilio")
    expect(page.locator("label[for=id_webhook_secret]")).to_contain_text("Auth token")
    expect(page.locator("#id_partner_id")).to_have_count(0)
