"""Product import, token refresh, connection checks and stock pushes against a local server
speaking Shopee's Open API."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from werkzeug import Response

from channels_app.clients import StockUpdate, client_for
from channels_app.models import Channel, SyncStatus
from channels_app.platforms.shopee import client as shopee
from channels_app.sync import channel_verify, sync_start
from inventory.models import ChannelVariant
from tests.channels_app import factories
from tests.platforms import fixture_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopee_channel(httpserver):
    channel = factories.shopee_channel(
        api_base_url=httpserver.url_for(""),
        access_token="EXPIRED",
        refresh_token="4c7259534969484e71734d695a6e6d55",
    )
    return channel


def test_a_shopee_token_that_expired_is_refreshed_once_and_the_call_goes_on(
    shopee_channel, httpserver, run_worker, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(shopee, "PAGE_SIZE", 1)
    refreshed = fixture_json("shopee/api/refresh_access_token.json")["response"]
    listing = fixture_json("shopee/api/get_item_list.json")["response"]
    base_info = fixture_json("shopee/api/get_item_base_info.json")["response"]
    calls = []

    def refresh(request):
        query = parse_qs(request.query_string.decode())
        expected = shopee.sign(
            factories.SHOPEE_PARTNER_KEY, "2001887", shopee.REFRESH_PATH, query["timestamp"][0]
        )
        assert query["sign"] == [expected]  # the public-API sign: partner id, path, timestamp
        assert request.get_json() == {
            "refresh_token": "4c7259534969484e71734d695a6e6d55",
            "partner_id": 2001887,
            "shop_id": int(factories.SHOPEE_SHOP_ID),
        }
        calls.append("refresh")
        return Response(json.dumps(refreshed), content_type="application/json")

    def shop_api(request):
        query = parse_qs(request.query_string.decode())
        token = query["access_token"][0]
        path = request.path
        calls.append((path.rsplit("/", 1)[-1], token))
        if token != refreshed["access_token"]:
            error = {"error": "error_auth", "message": "Invalid access_token.", "request_id": "x"}
            return Response(json.dumps(error), status=403, content_type="application/json")
        if path.endswith("get_item_list"):
            offset = int(query["offset"][0])
            item = listing["response"]["item"][0] | {"item_id": 34001 + offset}
            page = {"item": [item], "total_count": 2, "has_next_page": offset == 0, "next_offset": offset + 1}
            return Response(json.dumps(listing | {"response": page}), content_type="application/json")
        if path.endswith("get_item_base_info"):
            info = base_info["response"]["item_list"][0] | {
                "item_id": int(query["item_id_list"][0]),
                "has_model": False,
                "item_sku": f"SP-{query['item_id_list'][0]}",
            }
            return Response(
                json.dumps(base_info | {"response": {"item_list": [info]}}), content_type="application/json"
            )
        raise AssertionError(path)

    httpserver.expect_request(shopee.REFRESH_PATH, method="POST").respond_with_handler(refresh)
    for path in ("/api/v2/product/get_item_list", "/api/v2/product/get_item_base_info"):
        httpserver.expect_request(path).respond_with_handler(shop_api)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_start(channel_id=shopee_channel.pk, kind="products")
    run_worker("channel-sync")
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert calls.count("refresh") == 1
    assert calls[:3] == [
        ("get_item_list", "EXPIRED"),
        "refresh",
        ("get_item_list", refreshed["access_token"]),
    ]
    assert dict(ChannelVariant.objects.values_list("external_variant_id", "sku__code")) == {
        "34001": "SP-34001",
        "34002": "SP-34002",
    }
    credentials = Channel.objects.get(pk=shopee_channel.pk).credentials
    assert credentials["access_token"] == refreshed["access_token"]
    assert credentials["refresh_token"] == refreshed["refresh_token"]  # single-use: the new one is kept


def test_a_refused_refresh_fails_the_run_with_what_to_do(
    shopee_channel, httpserver, run_worker, django_capture_on_commit_callbacks
):
    refused = fixture_json("shopee/api/refresh_access_token.json")["error_example"]
    httpserver.expect_request("/api/v2/product/get_item_list").respond_with_json(
        {"error": "error_auth", "message": "Invalid access_token."}, status=403
    )
    httpserver.expect_request(shopee.REFRESH_PATH, method="POST").respond_with_json(refused, status=403)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_start(channel_id=shopee_channel.pk, kind="products")
    run_worker("channel-sync")
    run.refresh_from_db()
    assert run.status == SyncStatus.FAILED
    assert "authorize the shop again" in run.error and "Invalid refresh_token" in run.error


def test_verifying_a_shopee_channel_reads_the_shop_info_where_shopee_puts_it(httpserver):
    """get_shop_info answers at the top level (no `response` object): shop name and region."""
    channel = factories.shopee_channel(api_base_url=httpserver.url_for(""), access_token="tok")
    httpserver.expect_request("/api/v2/shop/get_shop_info").respond_with_json(
        fixture_json("shopee/api/get_shop_info.json")
    )
    ok, message = channel_verify(channel)
    assert (ok, message) == (True, "Shopee shop mysipuat (MY, NORMAL)")


def test_a_shopee_models_title_is_built_from_its_tier_options():
    tiers = [
        {"name": "Colour", "option_list": [{"option": "Red"}, {"option": "Blue"}]},
        {"name": "Size", "option_list": [{"option": "M"}, {"option": "XL"}]},
    ]
    assert shopee.model_title({"model_id": 1, "tier_index": [1, 0]}, tiers) == "Blue / M"
    assert shopee.model_title({"model_id": 2, "tier_index": [0, 1]}, tiers) == "Red / XL"
    assert shopee.model_title({"model_id": 3}, tiers) == ""  # the recorded sample has no tier_index
    assert shopee.model_title({"model_id": 4, "tier_index": [7]}, tiers) == ""  # out of range: no name


@pytest.mark.parametrize(
    ("location", "seller_stock"),
    [
        ("", [{"stock": 7}]),  # a shop without warehouses: no location_id
        ("VN10XX2UZ", [{"location_id": "VN10XX2UZ", "stock": 7}]),  # one push per warehouse
    ],
)
def test_shopee_stock_is_pushed_per_warehouse_with_its_location_id(httpserver, location, seller_stock):
    channel = factories.shopee_channel(api_base_url=httpserver.url_for(""), access_token="tok")
    httpserver.expect_request("/api/v2/product/update_stock", method="POST").respond_with_json(
        {"error": "", "message": "", "response": {"failure_list": [], "success_list": [{"model_id": 9}]}}
    )
    update = StockUpdate(
        variant_id="9",
        product_id="23620853561",
        inventory_item_id="",
        location=location,
        available=7,
        known=None,
        idempotency_key="k",
    )
    client_for(channel).push_stock(update)
    (request, _), *_ = httpserver.log
    assert request.get_json() == {
        "item_id": 23620853561,
        "stock_list": [{"model_id": 9, "seller_stock": seller_stock}],
    }
