"""What a stock report names that no mapping resolves waits (NEEDS_MAPPING) where ops look, and
the merchant's mapping screens map it and run the waiting events again through a real worker."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from channels_app.models import ChannelLocation, EventStatus, MappingKind, ProcessedWebhookEvent
from inventory.models import ChannelVariant
from tests.channels_app import factories
from tests.inventory.factories import assert_invariants, level, sku, warehouse
from tests.platforms import fixture_json, shopify_cost, shopify_graphql_path, shopify_headers

pytestmark = pytest.mark.django_db

LEVEL = fixture_json("shopify/webhooks/inventory_levels_update.json")  # item 271878346596884015 @ 24826418
ITEM, LOCATION = "271878346596884015", "24826418"


@pytest.fixture
def merchant(client):
    call_command("create_org", "acme")  # The channels the tests make join it.
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme")
    client.force_login(User.objects.get(username="wile"))
    return client


@pytest.fixture
def report(client, django_capture_on_commit_callbacks, run_worker):
    """A signed Shopify stock report, accepted and processed by a burst worker."""

    def report(event_id: str) -> ProcessedWebhookEvent:
        body = json.dumps(LEVEL).encode()
        headers = shopify_headers(
            secret=factories.SHOPIFY_SECRET,
            body=body,
            shop=factories.SHOPIFY_SHOP,
            topic="inventory_levels/update",
            event_id=event_id,
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/webhooks/shopify/", body, content_type="application/json", **headers)
        run_worker("webhooks")
        return ProcessedWebhookEvent.objects.get(pk=response.json()["event"])

    return report


def test_an_unmapped_location_waits_and_mapping_it_runs_its_events_again(report, merchant, run_worker):
    channel = factories.shopify_channel()
    main = warehouse(channel.organization, "main")
    item = sku(channel.organization, "AVIATOR", on_hand=3, at=main)
    ChannelVariant.objects.create(
        channel=channel, sku=item, external_variant_id="1", external_inventory_item_id=ITEM
    )
    first, second = report("e1"), report("e2")
    assert {first.status, second.status} == {EventStatus.NEEDS_MAPPING}
    assert not ProcessedWebhookEvent.objects.exclude(mapping_ref=LOCATION).exists()

    listing = merchant.get(reverse("admin:channels_app_channel_needs_mapping")).content.decode()
    url = reverse("admin:channels_app_channel_map", args=[channel.pk, MappingKind.LOCATION, LOCATION])
    assert url in listing and "Location" in listing and ">2<" in listing

    response = merchant.post(url, {"target": main.pk}, follow=True)
    assert "Mapped location 24826418 to Main: 2 waiting events run again." in response.content.decode()
    assert ChannelLocation.objects.get(channel=channel, external_id=LOCATION).warehouse == main
    assert ProcessedWebhookEvent.objects.filter(status=EventStatus.ENQUEUED).count() == 2
    run_worker("webhooks")
    statuses = set(ProcessedWebhookEvent.objects.values_list("status", flat=True))
    assert statuses == {EventStatus.COMPLETED}
    assert level(item, main).on_hand == 10
    assert_invariants()


def test_an_unknown_inventory_item_waits_and_mapping_it_asks_shopify_for_its_variant(
    report, merchant, run_worker, httpserver
):
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    main = warehouse(channel.organization, "main")
    ChannelLocation.objects.create(channel=channel, external_id=LOCATION, warehouse=main)
    item = sku(channel.organization, "AVIATOR", on_hand=3, at=main)
    event = report("e1")
    assert (event.status, event.mapping_kind, event.mapping_ref) == (
        EventStatus.NEEDS_MAPPING,
        MappingKind.INVENTORY_ITEM,
        ITEM,
    )
    # Shopify's answer to inventoryItem(id:) { variants(first: 1) { nodes { ... } } }: its one variant.
    answer = {
        "data": {
            "inventoryItem": {
                "id": f"gid://shopify/InventoryItem/{ITEM}",
                "variants": {
                    "nodes": [
                        {
                            "id": "gid://shopify/ProductVariant/39072856",
                            "sku": "IPOD2008GREEN",
                            "title": "Green",
                            "product": {"id": "gid://shopify/Product/108828309", "title": "IPod Nano - 8gb"},
                        }
                    ]
                },
            }
        },
        "extensions": shopify_cost(requested=3),
    }
    httpserver.expect_request(shopify_graphql_path(), method="POST").respond_with_json(answer)

    url = reverse("admin:channels_app_channel_map", args=[channel.pk, MappingKind.INVENTORY_ITEM, ITEM])
    assert "AVIATOR" in merchant.get(url).content.decode()
    response = merchant.post(url, {"target": item.pk}, follow=True)
    assert "1 waiting event runs again" in response.content.decode()
    variables = httpserver.log[0][0].get_json()["variables"]
    assert variables == {"id": f"gid://shopify/InventoryItem/{ITEM}"}
    mapped = ChannelVariant.objects.get(channel=channel)
    assert (
        mapped.sku,
        mapped.external_variant_id,
        mapped.external_product_id,
        mapped.external_inventory_item_id,
    ) == (
        item,
        "39072856",
        "108828309",
        ITEM,
    )
    run_worker("webhooks")
    event.refresh_from_db()
    assert (event.status, event.mapping_kind) == (EventStatus.COMPLETED, "")
    assert level(item, main).on_hand == 10


def test_an_item_shopify_does_not_know_is_not_mapped_and_still_waits(report, merchant, httpserver):
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    main = warehouse(channel.organization, "main")
    ChannelLocation.objects.create(channel=channel, external_id=LOCATION, warehouse=main)
    item = sku(channel.organization, "AVIATOR", on_hand=3, at=main)
    report("e1")
    answer = {"data": {"inventoryItem": None}, "extensions": shopify_cost(requested=3)}
    httpserver.expect_request(shopify_graphql_path(), method="POST").respond_with_json(answer)
    url = reverse("admin:channels_app_channel_map", args=[channel.pk, MappingKind.INVENTORY_ITEM, ITEM])
    page = merchant.post(url, {"target": item.pk}, follow=True).content.decode()
    assert f"Not mapped: Shopify knows no variant of inventory item {ITEM}" in page
    assert not ChannelVariant.objects.exists()
    assert ProcessedWebhookEvent.objects.get().status == EventStatus.NEEDS_MAPPING


def test_waiting_events_show_where_ops_look(report, admin_client):
    factories.shopify_channel()
    report("e1")
    failed = admin_client.get(reverse("admin:django_rq_failed_all")).content.decode()
    assert "1 webhook event needs mapping" in failed
    assert reverse("admin:channels_app_channel_needs_mapping") in failed
    events = reverse("admin:channels_app_processedwebhookevent_changelist")
    listed = admin_client.get(f"{events}?status__exact=NEEDS_MAPPING").content.decode()
    assert "Needs mapping" in listed and "inventory_levels/update" in listed


def test_a_merchant_cannot_map_another_organizations_channel(report, client):
    channel = factories.shopify_channel()
    report("e1")
    call_command("create_org", "globex")
    User.objects.create_user("coyote", password="pw-123-xyz", is_staff=True)
    client.force_login(User.objects.get(username="coyote"))
    url = reverse("admin:channels_app_channel_map", args=[channel.pk, MappingKind.LOCATION, LOCATION])
    assert client.get(url).status_code == 403  # no permission to change channels at all
    call_command("create_staff", "coyote", "--password", "pw-123-xyz", "--org", "globex")
    client.force_login(User.objects.get(username="coyote"))  # Its new password ended the session.
    assert client.get(url).status_code == 404
    assert client.post(url, {"target": 1}).status_code == 404
    assert not ChannelLocation.objects.exists()
