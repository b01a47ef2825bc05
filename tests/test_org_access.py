"""Merchants see and change only their organizations' data, however they ask."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.forms.models import model_to_dict
from django.urls import reverse

from channels_app.models import ProcessedWebhookEvent
from inventory.models import StockLevel
from orders.services import LineData, OrderData, order_sync
from tests.channels_app import factories
from tests.inventory.factories import sku, warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_shops():
    """Acme (ours) and Globex (someone else's), each with a channel, an event, an order and stock."""
    ours = factories.shopify_channel()
    theirs = factories.woocommerce_channel()
    theirs.organization = type(ours.organization).objects.create(name="Globex", slug="globex")
    theirs.save()
    data = {}
    for name, channel in (("ours", ours), ("theirs", theirs)):
        main = warehouse(channel.organization, f"{name}-main")
        sku(channel.organization, f"{name}-SKU", on_hand=2, at=main)
        event = ProcessedWebhookEvent.objects.create(
            source=channel.platform, channel=channel, topic="t", event_key=f"{name}-k", payload={}
        )
        order = order_sync(
            channel=channel,
            data=OrderData(
                external_id=f"{name}-1", number=f"#{name}", lines=(LineData("1", 1, 1, sku_code="x"),)
            ),
        ).order
        data[name] = {"channel": channel, "event": event, "order": order, "warehouse": main}
    return data


@pytest.fixture
def merchant(client, two_shops):
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme")
    client.force_login(User.objects.get(username="wile"))
    return client


PAGES = {
    "channel": "channels_app_channel",
    "event": "channels_app_processedwebhookevent",
    "order": "orders_order",
    "warehouse": "inventory_warehouse",
}


def test_a_merchant_lists_only_their_organizations_data(merchant, two_shops):
    for key, page in PAGES.items():
        body = merchant.get(reverse(f"admin:{page}_changelist")).content.decode()
        ours, theirs = two_shops["ours"][key], two_shops["theirs"][key]
        assert f"/{ours.pk}/change/" in body, page
        assert f"/{theirs.pk}/change/" not in body, page
    levels = merchant.get(reverse("admin:inventory_stocklevel_changelist")).content.decode()
    assert "ours-SKU" in levels and "theirs-SKU" not in levels
    assert (
        "Globex" not in merchant.get(reverse("admin:channels_app_organization_changelist")).content.decode()
    )


def test_hand_typed_urls_of_another_organization_find_nothing(merchant, two_shops):
    def stored(key):
        obj = two_shops["theirs"][key]
        return model_to_dict(type(obj).objects.get(pk=obj.pk))

    before = {key: stored(key) for key in PAGES}
    for key, page in PAGES.items():
        theirs = two_shops["theirs"][key]
        response = merchant.get(reverse(f"admin:{page}_change", args=[theirs.pk]))
        assert response.status_code == 302 and response["Location"].endswith("/admin/"), page  # "not found"
        # Not found (302), or no change permission at all (403, as for their own): nothing changes.
        assert merchant.post(reverse(f"admin:{page}_change", args=[theirs.pk]), {}).status_code in (302, 403)
    assert {key: stored(key) for key in PAGES} == before
    level = StockLevel.objects.get(sku__code="theirs-SKU")
    assert merchant.get(reverse("admin:inventory_stocklevel_change", args=[level.pk])).status_code == 302


def test_form_choices_offer_only_their_organizations(merchant, two_shops):
    page = merchant.get(reverse("admin:channels_app_channel_add")).content.decode()
    assert "Acme" in page and "Globex" not in page


def test_a_merchant_has_no_queue_pages(merchant):
    assert merchant.get(reverse("admin:django_rq_home")).status_code == 403


def test_ops_see_every_organization(client, two_shops):
    call_command("create_staff", "roadrunner", "--password", "pw-123-xyz", "--ops")
    client.force_login(User.objects.get(username="roadrunner"))
    body = client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert f"/{two_shops['theirs']['order'].pk}/change/" in body
    assert client.get(reverse("admin:django_rq_home")).status_code == 200
