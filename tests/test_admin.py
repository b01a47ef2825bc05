"""The admin pages merchants and ops use render with real data."""

import pytest
from django.urls import reverse

from channels_app.models import ProcessedWebhookEvent
from inventory.models import StockLevel
from orders.services import LineData, OrderData, order_sync
from tests.channels_app import factories
from tests.inventory.factories import sku, warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    sku(channel.organization, "A", on_hand=3, at=main)
    lines = (LineData("1", 1, 10, title="A thing", sku_code="A"), LineData("2", 1, 5, sku_code="NOPE"))
    result = order_sync(
        channel=channel, data=OrderData(external_id="9", number="#9", financial_status="paid", lines=lines)
    )
    ProcessedWebhookEvent.objects.create(
        source="shopify", channel=channel, topic="orders/paid", event_key="k", payload={"id": 9}
    )
    return result.order


@pytest.mark.parametrize(
    "model",
    [
        "orders.order",
        "inventory.stocklevel",
        "inventory.stockmovement",
        "inventory.reservation",
        "inventory.sku",
        "channels_app.channel",
        "channels_app.processedwebhookevent",
    ],
)
def test_changelists_render(admin_client, data, model):
    app, name = model.split(".")
    assert admin_client.get(reverse(f"admin:{app}_{name}_changelist")).status_code == 200


def test_an_order_page_shows_its_items_reservations_and_flags(admin_client, data):
    page = admin_client.get(reverse("admin:orders_order_change", args=[data.pk])).content.decode()
    assert "1 Open at main" in page
    assert "SKU not found" in page


def test_a_stock_level_page_shows_its_ledger(admin_client, data):
    level = StockLevel.objects.get()
    page = admin_client.get(reverse("admin:inventory_stocklevel_change", args=[level.pk])).content.decode()
    assert "+3 = 3 import test" in page


def test_channel_secrets_are_write_only_in_the_admin(admin_client):
    channel = factories.shopify_channel(credentials={"access_token": "shpat_hidden"})
    url = reverse("admin:channels_app_channel_change", args=[channel.pk])
    page = admin_client.get(url).content.decode()
    assert factories.SHOPIFY_SECRET not in page and "shpat_hidden" not in page
    assert "access_token" in page  # the names of what is stored, not the values
    form = {
        "organization": channel.organization.pk,
        "name": channel.name,
        "platform": "shopify",
        "shop_identifier": channel.shop_identifier,
        "partner_id": "",
        "api_base_url": "",
        "is_active": "on",
        "webhook_secret": "",
        "previous_webhook_secret": "",
        "access_token": "",
        "refresh_token": "",
        "consumer_key": "",
        "consumer_secret": "",
        "locations-TOTAL_FORMS": "0",
        "locations-INITIAL_FORMS": "0",
        "subscriptions-TOTAL_FORMS": "0",
        "subscriptions-INITIAL_FORMS": "0",
    }
    assert admin_client.post(url, form).status_code == 302
    channel.refresh_from_db()
    assert channel.webhook_secret == factories.SHOPIFY_SECRET  # blank kept it
    assert channel.credentials == {"access_token": "shpat_hidden"}
    admin_client.post(url, form | {"webhook_secret": "rotated", "access_token": "shpat_new"})
    channel.refresh_from_db()
    assert (channel.webhook_secret, channel.credentials["access_token"]) == ("rotated", "shpat_new")


def test_events_are_found_by_the_platforms_order_id_and_show_their_payload(admin_client):
    channel = factories.shopify_channel()
    event = ProcessedWebhookEvent.objects.create(
        source="shopify",
        channel=channel,
        topic="orders/paid",
        event_key="k1",
        payload={"id": 820982911946154508},
    )
    ProcessedWebhookEvent.objects.create(
        source="shopify", channel=channel, topic="orders/paid", event_key="k2", payload={"id": 1}
    )
    listing = admin_client.get(
        reverse("admin:channels_app_processedwebhookevent_changelist"), {"q": "820982911946154508"}
    ).content.decode()
    assert f"/{event.pk}/change/" in listing and listing.count("/change/") == 1
    page = admin_client.get(reverse("admin:channels_app_processedwebhookevent_change", args=[event.pk]))
    assert "&quot;id&quot;: 820982911946154508" in page.content.decode()  # pretty-printed, escaped


def test_the_channel_list_shows_the_last_webhook_and_events_per_status_in_24_hours(admin_client):
    channel = factories.shopify_channel()
    for n, status in enumerate(["COMPLETED", "COMPLETED", "FAILED", "NEEDS_MAPPING"]):
        ProcessedWebhookEvent.objects.create(
            source="shopify", channel=channel, topic="t", event_key=f"k{n}", status=status
        )
    page = admin_client.get(reverse("admin:channels_app_channel_changelist")).content.decode()
    assert "2 completed, 1 failed" in page
    assert "1 needs mapping" in page  # in words, not the status's NEEDS_MAPPING
