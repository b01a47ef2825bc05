"""Worker processes racing for the last units of one SKU."""

import copy
import json

import pytest

from channels_app.models import EventStatus, ProcessedWebhookEvent
from inventory.models import Reservation, ReservationStatus
from orders.models import LineIssue, OrderItem
from tests.channels_app import factories
from tests.e2e.conftest import wait_for
from tests.inventory.factories import assert_invariants, level, sku, warehouse
from tests.platforms import as_http_headers, fixture_json, shopify_headers

pytestmark = pytest.mark.e2e

SAMPLE = fixture_json("shopify/webhooks/orders_paid.json")
ORDERS = 120
UNITS = 40


def paid_order(n: int) -> bytes:
    order = copy.deepcopy(SAMPLE)
    order.update(
        id=1000 + n, name=f"#{1000 + n}", financial_status="paid", cancelled_at=None, cancel_reason=None
    )
    order["line_items"] = [order["line_items"][0] | {"id": 5000 + n, "sku": "LAST-ONES", "quantity": 1}]
    return json.dumps(order).encode()


def test_paid_orders_for_the_last_units_reserve_them_exactly_once(processes):
    import requests

    base = processes.web()
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    item = sku(channel.organization, "LAST-ONES", on_hand=UNITS, at=main)
    for n in range(ORDERS):
        body = paid_order(n)
        headers = shopify_headers(
            secret=factories.SHOPIFY_SECRET,
            body=body,
            shop=factories.SHOPIFY_SHOP,
            topic="orders/paid",
            event_id=f"p{n}",
        )
        answer = requests.post(
            f"{base}/webhooks/shopify/",
            data=body,
            headers={"Content-Type": "application/json", **as_http_headers(headers)},
        )
        assert answer.status_code == 200
    workers = [processes.worker("webhooks", name=f"racer-{i}", burst=True) for i in range(3)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    wait_for(lambda: not ProcessedWebhookEvent.objects.exclude(status=EventStatus.COMPLETED).exists())
    assert Reservation.objects.filter(status=ReservationStatus.OPEN).count() == UNITS
    assert OrderItem.objects.filter(issue=LineIssue.BACKORDERED).count() == ORDERS - UNITS
    assert (level(item, main).reserved, level(item, main).available) == (UNITS, 0)
    assert_invariants()
    done = [processes.log(f"racer-{i}").count("COMPLETED in") for i in range(3)]
    assert sum(done) == ORDERS  # each order processed once
    assert sum(1 for n in done if n) >= 2, done  # and the workers really did race
