"""The ops console and the merchant's admin in a real browser: what a person sees and clicks."""

from __future__ import annotations

import json

import pytest
import requests
from playwright.sync_api import expect

from channels_app.models import EventStatus, ProcessedWebhookEvent
from config.queues import get_queue
from inventory.models import ChannelVariant
from orders.services import LineData, OrderData, order_sync
from tests.channels_app import factories
from tests.inventory.factories import level, sku, warehouse
from tests.platforms import as_http_headers, fixture_json, woocommerce_headers

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCT = fixture_json("woocommerce/webhooks/product_updated.json")  # product 794
PRODUCT.update(manage_stock=True, stock_quantity=12, date_modified_gmt="2017-03-24T00:00:00")


def post_product_update(live_server, channel) -> int:
    body = json.dumps(PRODUCT).encode()
    headers = woocommerce_headers(secret="woo-secret&1", body=body, topic="product.updated")
    response = requests.post(
        f"{live_server.url}/webhooks/woocommerce/{channel.pk}/",
        data=body,
        headers=as_http_headers(headers),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["event"]


def test_ops_see_a_failed_job_fix_its_cause_retry_it_and_it_succeeds(
    page, context, live_server, log_in, staff, run_worker, screenshot
):
    channel = factories.woocommerce_channel()
    main = warehouse(channel.organization, "main", default=False)
    item = sku(channel.organization, "PREMIUM", on_hand=3, at=main)
    ChannelVariant.objects.create(channel=channel, sku=item, external_variant_id="794")
    # A real signed webhook for a store whose stock is in no warehouse yet: its job fails, permanently.
    event_id = post_product_update(live_server, channel)
    run_worker("webhooks")
    job_id = f"webhook-{event_id}"
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [job_id]

    staff("roadrunner", "--ops")
    log_in(page, "roadrunner")
    page.goto(f"{live_server.url}/admin/django_rq/dashboard/failed/")
    row = page.locator("#result_list tbody tr", has_text=job_id)
    expect(row).to_contain_text("HandlerError")
    expect(row).to_contain_text("has no warehouse for its stock")
    expect(row).to_contain_text(f"event {event_id} (product.updated)")
    expect(page.locator("#exception_groups")).to_contain_text("HandlerError")
    screenshot("failed-jobs")

    # The cause, fixed by the merchant (ops only read channels): the store's stock mapped to a warehouse.
    staff("wile", "--org", "acme")
    merchant = context.browser.new_page()
    log_in(merchant, "wile")
    merchant.goto(f"{live_server.url}/admin/channels_app/channel/{channel.pk}/change/")
    merchant.click(".add-row a")
    merchant.fill("#id_locations-0-external_id", "store")
    merchant.select_option("#id_locations-0-warehouse", label=str(main))
    merchant.click("input[name=_save]")
    expect(merchant.locator(".messagelist")).to_contain_text("was changed successfully")

    # Retry it from the failed-jobs page: choose it, confirm, and a worker runs it.
    page.goto(f"{live_server.url}/admin/django_rq/dashboard/failed/")
    page.check(f"input[name=job][value='webhooks:{job_id}']")
    page.select_option("select[name=action]", "retry")
    page.click("button:has-text('Go')")
    expect(page.locator("#content-main")).to_contain_text("This will retry 1 failed job")
    page.click("input[type=submit][value='Yes, retry them']")
    expect(page.locator(".messagelist")).to_contain_text("Retried 1 of 1 failed job.")
    expect(page.locator("#result_list")).to_contain_text("No failed jobs")
    run_worker("webhooks")

    page.goto(f"{live_server.url}/admin/channels_app/processedwebhookevent/{event_id}/change/")
    expect(page.locator(".field-status")).to_contain_text("Completed")
    assert ProcessedWebhookEvent.objects.get(pk=event_id).status == EventStatus.COMPLETED
    assert level(item, main).on_hand == 12  # the level the webhook reported

    page.goto(f"{live_server.url}/admin/django_rq/dashboard/")
    webhooks = page.locator("tr", has_text="webhooks").first
    expect(webhooks).to_be_visible()
    expect(page.locator("polyline").first).to_be_attached()
    screenshot("dashboard")


def test_a_merchant_sees_only_their_organizations_orders(page, live_server, log_in, staff):
    ours = factories.shopify_channel()
    theirs = factories.woocommerce_channel()
    theirs.organization = type(ours.organization).objects.create(name="Globex", slug="globex")
    theirs.save()
    orders = {}
    for name, channel in (("ours", ours), ("theirs", theirs)):
        data = OrderData(external_id=f"{name}-1", number=f"#{name.upper()}-1", lines=(LineData("1", 1, 1),))
        orders[name] = order_sync(channel=channel, data=data).order

    staff("wile", "--org", "acme")
    log_in(page, "wile")
    page.goto(f"{live_server.url}/admin/orders/order/")
    expect(page.locator("#result_list")).to_contain_text("#OURS-1")
    expect(page.locator("#content")).not_to_contain_text("#THEIRS-1")

    # Their order's page, typed by hand: "not found", and nothing of it shown.
    page.goto(f"{live_server.url}/admin/orders/order/{orders['theirs'].pk}/change/")
    expect(page.locator(".messagelist")).to_contain_text("doesn’t exist")
    expect(page.locator("body")).not_to_contain_text("#THEIRS-1")

    # No queue pages for a merchant, and no link to them.
    response = page.goto(f"{live_server.url}/admin/django_rq/dashboard/failed/")
    assert response is not None and response.status == 403
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#content-main")).not_to_contain_text("Django-RQ")
