"""The merchant's order screens: addresses as addresses, problems as problems, search by line,
and a CSV export."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from channels_app.platforms.shopify import payloads as shopify
from orders.addresses import address_lines
from orders.models import Order
from orders.services import LineData, OrderData, order_sync
from tests.channels_app import factories
from tests.inventory.factories import sku, warehouse
from tests.platforms import fixture_json

pytestmark = pytest.mark.django_db

WOO_ORDER = fixture_json("woocommerce/webhooks/order_created.json")
SHOPEE_ORDER = fixture_json("shopee/api/get_order_detail.json")


@pytest.fixture
def orders():
    """A recorded Shopify order (one line with no SKU here), and a clean one of our own making."""
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    sku(channel.organization, "TB-42", on_hand=5, at=main)
    recorded = order_sync(
        channel=channel, data=shopify.order(fixture_json("shopify/webhooks/orders_create.json"))
    )
    lines = (LineData("1", 1, 10, title="Trail boots", sku_code="TB-42"),)
    clean = order_sync(
        channel=channel,
        data=OrderData(external_id="9", number="#9", customer_name="=HYPERLINK()", lines=lines),
    )
    return recorded.order, clean.order


@pytest.fixture
def merchant(client, orders):
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme")
    client.force_login(User.objects.get(username="wile"))
    return client


def content(page: str) -> str:
    return page[page.index('id="content-main"') :]


def test_an_orders_addresses_read_as_addresses_with_no_none(merchant, orders):
    recorded, clean = orders
    page = content(merchant.get(reverse("admin:orders_order_change", args=[recorded.pk])).content.decode())
    shipping = (
        "<address>Steve Shipper<br>Shipping Company<br>123 Shipping Street<br>40003 Shippington, Kentucky<br>"
        "United States<br>555-555-SHIP<br></address>"
    )
    assert shipping in page
    assert '"address1"' not in page  # not the stored JSON
    assert not re.search(r"\bNone\b", page)
    # A line with no problem said "None" in its issue column; an order with no address said "{}".
    page = content(merchant.get(reverse("admin:orders_order_change", args=[clean.pk])).content.decode())
    assert not re.search(r"\bNone\b", page) and "{}" not in page


def test_each_platforms_address_shape_reads_as_lines():
    assert address_lines(WOO_ORDER["billing"]) == [
        "John Doe",
        "969 Market",
        "94103 San Francisco, CA",
        "US",
        "(555) 555-5555",
    ]
    shopee = SHOPEE_ORDER["response"]["order_list"][0]["recipient_address"]
    assert address_lines(shopee) == ["P******n", "Ấp******", "Bạc Liêu", "VN", "******64"]
    assert address_lines({}) == [] and address_lines(None) == []


def test_a_problem_shows_as_a_problem_not_a_green_tick(merchant, orders):
    recorded, clean = orders
    assert recorded.needs_attention and not clean.needs_attention
    page = merchant.get(reverse("admin:orders_order_changelist")).content.decode()
    rows = {
        number: row for row in page.split("<tr")[1:] for number in ("#9999", "#9") if f">{number}<" in row
    }
    assert "icon-alert.svg" in rows["#9999"] and "5 lines: SKU not found" in rows["#9999"]
    assert "icon-yes" not in rows["#9999"] and "icon-no" not in rows["#9999"]
    assert "icon-alert.svg" not in rows["#9"]
    detail = content(merchant.get(reverse("admin:orders_order_change", args=[recorded.pk])).content.decode())
    assert "icon-alert.svg" in detail and "5 lines: SKU not found" in detail
    assert "icon-yes" not in detail  # the needs-attention flag was a green tick here too


def test_orders_are_found_by_a_lines_title_or_sku(merchant, orders):
    recorded, clean = orders
    url = reverse("admin:orders_order_changelist")
    for query, found in (
        ("trail boot", clean),
        ("TB-42", clean),
        ("lounger", recorded),
        ("SKU2006-035", recorded),
    ):
        page = merchant.get(url, {"q": query}).content.decode()
        assert f"/{found.pk}/change/" in page, query
        other = recorded if found == clean else clean
        assert f"/{other.pk}/change/" not in page, query


def test_selected_orders_export_as_csv(merchant, orders):
    recorded, clean = orders
    response = merchant.post(
        reverse("admin:orders_order_changelist"),
        {"action": "export_csv", "_selected_action": [recorded.pk, clean.pk]},
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    rows = {row["number"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert set(rows) == {"#9999", "#9"}
    assert rows["#9"]["customer"] == "'=HYPERLINK()"  # a spreadsheet does not run the buyer's words
    assert rows["#9"]["lines"] == "1 x TB-42 Trail boots"
    assert rows["#9"]["problem"] == ""
    assert rows["#9999"]["shipping address"].startswith(
        "Steve Shipper, Shipping Company, 123 Shipping Street"
    )
    assert "SKU not found" in rows["#9999"]["problem"]
    assert Order.objects.count() == 2
