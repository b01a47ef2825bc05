"""Product import against a local server speaking WooCommerce's REST API."""

from __future__ import annotations

import pytest
from werkzeug import Response

from channels_app.models import SyncStatus
from channels_app.platforms.woocommerce import client as woocommerce
from channels_app.sync import sync_start
from inventory.models import ChannelVariant
from tests.channels_app import factories
from tests.platforms import fixture_json

pytestmark = pytest.mark.django_db


def woo_product(pid, sku, kind="simple", variations=()):
    return {"id": pid, "name": f"Product {pid}", "type": kind, "sku": sku, "variations": list(variations)}


def test_woocommerce_products_are_imported_across_pages_with_variations_and_a_429(
    httpserver, run_worker, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(woocommerce, "PAGE_SIZE", 2)
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck_test", consumer_secret="cs_test"
    )
    documented = fixture_json("woocommerce/api/products_list.json")["list_all_products"]
    assert [(p["id"], p["type"]) for p in documented] == [(799, "variable"), (794, "simple")]
    pages = {
        "1": [documented[0] | {"variations": [801, 802]}, documented[1] | {"sku": "PQ-794"}],
        "2": [woo_product(900, "LAST")],
    }
    path = "/wp-json/wc/v3/products"
    httpserver.expect_ordered_request(path, query_string="page=1&per_page=2").respond_with_response(
        Response("", status=429, headers={"Retry-After": "0"})
    )
    httpserver.expect_ordered_request(path, query_string="page=1&per_page=2").respond_with_json(
        pages["1"], headers={"X-WP-Total": "3", "X-WP-TotalPages": "2"}
    )
    httpserver.expect_ordered_request(
        f"{path}/799/variations", query_string="page=1&per_page=2"
    ).respond_with_json(
        [
            {"id": 801, "sku": "SHIP-S", "attributes": [{"name": "Size", "option": "S"}]},
            {"id": 802, "sku": "SHIP-M", "attributes": [{"name": "Size", "option": "M"}]},
        ],
        headers={"X-WP-Total": "2", "X-WP-TotalPages": "1"},
    )
    httpserver.expect_ordered_request(path, query_string="page=2&per_page=2").respond_with_json(
        pages["2"], headers={"X-WP-Total": "3", "X-WP-TotalPages": "2"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_start(channel_id=channel.pk, kind="products")
    run_worker("channel-sync")
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert (run.done, run.total) == (3, 3)
    assert dict(ChannelVariant.objects.values_list("external_variant_id", "sku__code")) == {
        "801": "SHIP-S",
        "802": "SHIP-M",
        "794": "PQ-794",  # a simple product is its own variant (order lines name it so)
        "900": "LAST",
    }
    auth = httpserver.log[0][0].authorization
    assert (auth.username, auth.password) == ("ck_test", "cs_test")
