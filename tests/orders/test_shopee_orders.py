"""Shopee order status pushes: fetch the order from the (local) Shopee API, then sync it."""

import copy
import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from werkzeug import Response

from channels_app.models import Channel, EventStatus, ProcessedWebhookEvent
from config.queues import get_queue
from inventory.models import StockMovement
from orders.models import Order
from tests.channels_app import factories
from tests.inventory.factories import assert_invariants, level, sku, warehouse
from tests.platforms import fixture_json, post_shopee

pytestmark = pytest.mark.django_db

PUSH = fixture_json("shopee/push/order_status_push_code3.json")
DETAIL = fixture_json("shopee/api/get_order_detail.json")
ORDER_SN = PUSH["data"]["ordersn"]
PATH = "/api/v2/order/get_order_detail"


def detail_answer(**changes):
    answer = copy.deepcopy(DETAIL)
    order = answer["response"]["order_list"][0]
    order.update(order_sn=ORDER_SN, **changes)
    return answer


@pytest.fixture
def shop(httpserver):
    channel = factories.shopee_channel(
        api_base_url=httpserver.url_for(""), credentials={"access_token": "tok-1"}
    )
    main = warehouse(channel.organization)
    item = sku(channel.organization, "QAZ-SADOER-05", on_hand=4, at=main)
    return channel, main, item


def expected_sign(channel: Channel, timestamp: str) -> str:
    base = f"{channel.partner_id}{PATH}{timestamp}tok-1{channel.shop_identifier}"
    return hmac.new(factories.SHOPEE_PARTNER_KEY.encode(), base.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def push(client, django_capture_on_commit_callbacks, run_worker):
    def push(body=PUSH):
        raw = json.dumps(body).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = post_shopee(client, None, raw, partner_key=factories.SHOPEE_PARTNER_KEY)
        assert response.status_code == 200
        run_worker("webhooks")
        return ProcessedWebhookEvent.objects.latest("pk")

    return push


def test_a_push_fetches_the_order_with_a_signed_request_and_syncs_it(shop, push, httpserver):
    channel, main, item = shop
    seen = []

    def answer(request):
        seen.append(request.args.to_dict())
        return Response(
            json.dumps(detail_answer(order_status="READY_TO_SHIP", pay_time=None)),
            content_type="application/json",
        )

    httpserver.expect_request(PATH, method="GET").respond_with_handler(answer)
    event = push()
    assert event.status == EventStatus.COMPLETED
    args = seen[0]
    assert args["order_sn_list"] == ORDER_SN
    assert (args["partner_id"], args["shop_id"], args["access_token"]) == (
        channel.partner_id,
        "727720655",
        "tok-1",
    )
    assert abs(int(args["timestamp"]) - time.time()) < 60
    assert args["sign"] == expected_sign(channel, args["timestamp"])
    order = Order.objects.get()
    assert (order.external_id, order.currency, order.financial_status, order.platform_status) == (
        ORDER_SN,
        "VND",
        "authorized",
        "READY_TO_SHIP",
    )
    assert (order.customer_name, order.shipping_address["city"], order.total) == (
        "P******n",
        "Huyện Phước Long",
        Decimal("32119"),
    )
    line = order.items.get()
    assert (line.sku, line.quantity, line.external_variant_id, line.unit_price) == (
        item,
        1,
        "221404189791",
        Decimal("48000"),
    )
    assert level(item, main).reserved == 1  # a COD order ready to ship holds its stock


def test_shipping_consumes_and_a_cancelled_order_releases(shop, push, httpserver):
    channel, main, item = shop
    httpserver.expect_ordered_request(PATH).respond_with_json(
        detail_answer(order_status="READY_TO_SHIP", update_time=1713100000)
    )
    httpserver.expect_ordered_request(PATH).respond_with_json(
        detail_answer(order_status="SHIPPED", update_time=1713100100)
    )
    push()
    push(PUSH | {"timestamp": PUSH["timestamp"] + 1})  # a new push: the order changed again
    assert (level(item, main).on_hand, level(item, main).reserved) == (3, 0)
    assert_invariants()


def test_a_shopee_api_error_fails_permanently_with_its_message(shop, push, httpserver):
    httpserver.expect_request(PATH).respond_with_json(
        {"error": "error_param", "message": "order_sn invalid", "response": {}}
    )
    event = push()
    assert event.status == EventStatus.FAILED
    assert "error_param: order_sn invalid" in event.error_message


def test_a_shopee_server_error_is_retried(shop, push, httpserver):
    httpserver.expect_request(PATH).respond_with_data("busy", status=503)
    event = push()
    assert (event.status, event.attempts) == (EventStatus.ENQUEUED, 1)  # retry scheduled with backoff
    assert "503" in event.error_message


@pytest.mark.parametrize("error", ["error_rate_limit", "error_limit"])
def test_shopees_rate_limit_is_retried_after_the_buckets_refill_not_failed(shop, push, httpserver, error):
    """Shopee's documented rate-limit errors come in the body, like any error; they are a 429."""
    channel, _, _ = shop
    httpserver.expect_request(PATH).respond_with_json(
        {"error": error, "message": "too many calls", "response": {}}
    )
    event = push()
    assert (event.status, event.attempts) == (EventStatus.ENQUEUED, 1)  # retried, not failed
    assert f"{error}: too many calls" in event.error_message
    bucket = get_queue("webhooks").connection.hgetall(f"hub:ratelimit:channel:{channel.pk}")
    assert float(bucket[b"tokens"]) < 1  # every worker of the channel waits for the refill


MODELS_PATH = "/api/v2/product/get_model_list"


def models_answer(stock: int, location: str = "VN10XX2UZ"):
    answer = fixture_json("shopee/api/get_model_list.json")
    model = answer["response"]["model"][0]
    model.update(model_id=221404189791, model_sku="QAZ-SADOER-05")
    model["stock_info_v2"]["seller_stock"] = [{"location_id": location, "stock": stock, "if_saleable": True}]
    return answer


def test_a_reserved_stock_change_syncs_the_order_and_the_items_stock_through_the_ledger(
    shop, push, httpserver
):
    channel, main, item = shop
    code8 = fixture_json("shopee/push/reserved_stock_change_push_code8.json")
    httpserver.expect_request(PATH).respond_with_json(detail_answer(order_status="READY_TO_SHIP"))
    httpserver.expect_request(MODELS_PATH).respond_with_json(models_answer(stock=6))
    event = push(code8)
    assert (event.topic, event.status) == ("reserved_stock_change", EventStatus.COMPLETED)
    assert Order.objects.get().platform_status == "READY_TO_SHIP"
    # Shopee can still sell 6; the order it names holds 1 here: on hand is 7.
    assert (level(item, main).on_hand, level(item, main).reserved) == (7, 1)
    movement = StockMovement.objects.latest("pk")
    assert (movement.reason, movement.reference) == ("channel", f"event:{event.pk}")
    assert_invariants()


def test_a_reserved_stock_change_naming_neither_order_nor_item_is_ignored(shop, push):
    code8 = fixture_json("shopee/push/reserved_stock_change_push_code8.json")
    del code8["data"]["ordersn"], code8["data"]["item_id"]
    event = push(code8)
    assert (event.status, event.ignored_reason) == (
        EventStatus.IGNORED,
        "reserved stock change that names no order and no item",
    )


def test_an_order_status_push_without_its_order_fails_permanently(shop, push):
    event = push(PUSH | {"data": {"status": "PROCESSED"}})
    assert (event.status, event.error_message) == (
        EventStatus.FAILED,
        "HandlerError: Shopee order status push has no data.ordersn",
    )


# Bundle deals: the items of one bundle share order_item_id, and model_discounted_price is 0 by
# design (Shopee's v2.order.get_order_detail doc). line_item_id (added 2026-07) tells them apart.
BUNDLE = fixture_json("shopee/api/get_order_detail_bundle_deal.json")
SHARED_ORDER_ITEM_ID = 23620853561
WITH_MODELS = (221404189791, 221404189792)
BEFORE_AND_AFTER_2026_07 = pytest.mark.parametrize(
    "line_item_ids", [False, True], ids=["before-2026-07", "with-line_item_id"]
)


def bundle_answer(*, line_item_ids: bool, models: tuple[int, int] = (0, 0), **changes):
    """The bundle-deal fixture, as sent since 2026-07 (with line_item_id) or before (without)."""
    answer = copy.deepcopy(BUNDLE)
    order = answer["response"]["order_list"][0]
    order.update(order_sn=ORDER_SN, **changes)
    for item, model_id in zip(order["item_list"], models, strict=True):
        item["model_id"] = model_id
        if not line_item_ids:
            del item["line_item_id"]
    return answer


@pytest.fixture
def bundle_shop(shop):
    channel, main, first = shop
    second = sku(channel.organization, "QAZ-SADOER-06", on_hand=4, at=main)
    return main, first, second


def stored_lines():
    return list(
        Order.objects.get().items.order_by("pk").values_list("pk", "sku__code", "quantity", "unit_price")
    )


def stock(main, *items):
    return [(level(item, main).on_hand, level(item, main).reserved) for item in items]


@pytest.mark.parametrize("models", [(0, 0), WITH_MODELS], ids=["no-models", "models"])
@BEFORE_AND_AFTER_2026_07
def test_a_bundle_deal_order_keeps_every_line_each_at_its_original_price(
    bundle_shop, push, httpserver, line_item_ids, models
):
    """The order detail does not break a bundle's price down per item: the original price stands in."""
    main, first, second = bundle_shop
    httpserver.expect_request(PATH).respond_with_json(
        bundle_answer(line_item_ids=line_item_ids, models=models, order_status="READY_TO_SHIP", pay_time=None)
    )
    event = push()
    assert event.status == EventStatus.COMPLETED, event.error_message
    assert [line[1:] for line in stored_lines()] == [
        ("QAZ-SADOER-05", 1, Decimal("300000")),
        ("QAZ-SADOER-06", 1, Decimal("250000")),
    ]
    assert stock(main, first, second) == [(4, 1), (4, 1)]
    assert_invariants()


@BEFORE_AND_AFTER_2026_07
def test_a_redelivered_bundle_deal_order_keeps_its_lines(bundle_shop, push, httpserver, line_item_ids):
    main, first, second = bundle_shop
    for update_time in (1713100000, 1713100100):
        httpserver.expect_ordered_request(PATH).respond_with_json(
            bundle_answer(line_item_ids=line_item_ids, order_status="READY_TO_SHIP", update_time=update_time)
        )
    push()
    before = stored_lines()
    event = push(PUSH | {"timestamp": PUSH["timestamp"] + 1})
    assert event.status == EventStatus.COMPLETED, event.error_message
    assert stored_lines() == before and len(before) == 2
    assert stock(main, first, second) == [(4, 1), (4, 1)]
    assert_invariants()


@pytest.mark.parametrize("models", [(0, 0), WITH_MODELS], ids=["no-models", "models"])
def test_a_shipped_bundle_order_that_gains_line_item_ids_keeps_its_lines_and_takes_stock_once(
    bundle_shop, push, httpserver, models
):
    """Shopee starts sending line_item_id for an order the hub holds: same rows, so the units that
    went out are not taken a second time under new line ids."""
    main, first, second = bundle_shop
    httpserver.expect_ordered_request(PATH).respond_with_json(
        bundle_answer(line_item_ids=False, models=models, order_status="SHIPPED", update_time=1713100000)
    )
    httpserver.expect_ordered_request(PATH).respond_with_json(
        bundle_answer(line_item_ids=True, models=models, order_status="COMPLETED", update_time=1713100100)
    )
    push()
    rows = [pk for pk, *_ in stored_lines()]
    event = push(PUSH | {"timestamp": PUSH["timestamp"] + 1})
    assert event.status == EventStatus.COMPLETED, event.error_message
    assert stock(main, first, second) == [(3, 0), (3, 0)]
    assert [pk for pk, *_ in stored_lines()] == rows
    assert_invariants()


def test_a_bundle_order_stored_under_the_previous_line_ids_keeps_its_rows(bundle_shop, push, httpserver):
    """Items with models were stored as `order_item_id:model_id` (at price 0) before bundle deals
    were told apart: those rows, and the stock they hold, carry over to the new line ids."""
    main, first, second = bundle_shop
    httpserver.expect_ordered_request(PATH).respond_with_json(
        bundle_answer(
            line_item_ids=False, models=WITH_MODELS, order_status="READY_TO_SHIP", update_time=1713100000
        )
    )
    httpserver.expect_ordered_request(PATH).respond_with_json(
        bundle_answer(line_item_ids=True, models=WITH_MODELS, order_status="SHIPPED", update_time=1713100100)
    )
    push()
    for item, model_id in zip(Order.objects.get().items.order_by("pk"), WITH_MODELS, strict=True):
        item.external_line_id = f"{SHARED_ORDER_ITEM_ID}:{model_id}"  # as the previous release keyed it
        item.save(update_fields=["external_line_id"])
    rows = [pk for pk, *_ in stored_lines()]
    push(PUSH | {"timestamp": PUSH["timestamp"] + 1})
    assert [pk for pk, *_ in stored_lines()] == rows
    assert stock(main, first, second) == [(3, 0), (3, 0)]
    assert_invariants()


@pytest.mark.parametrize("line_item_id", [None, 23620853561], ids=["before-2026-07", "with-line_item_id"])
def test_an_order_outside_any_bundle_keeps_its_line_id_and_price(shop, push, httpserver, line_item_id):
    """The doc's own sample: one item, its order_item_id its item id, a flash-sale price."""
    answer = detail_answer(order_status="READY_TO_SHIP", pay_time=None)
    if line_item_id is not None:
        answer["response"]["order_list"][0]["item_list"][0]["line_item_id"] = line_item_id
    httpserver.expect_request(PATH).respond_with_json(answer)
    push()
    line = Order.objects.get().items.get()
    assert (line.external_line_id, line.unit_price) == ("23620853561:221404189791", Decimal("48000"))
