"""Fulfillments created in the hub, pushed to each platform once, against their API shapes."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from werkzeug import Response

from config.queues import get_queue
from orders.fulfillments import fulfillment_create, fulfillment_push
from orders.models import Fulfillment, PushStatus
from tests.channels_app import factories
from tests.orders import factories as orders
from tests.platforms import fixture_json, post_shopify, shopify_cost, shopify_graphql_path

pytestmark = pytest.mark.django_db

GRAPHQL = shopify_graphql_path()
COST = shopify_cost()


def an_order(channel, external_id="450789469"):
    return orders.order(channel, external_id, number="#1001", financial_status="paid")


class FakeShopifyFulfillments:
    """An order with one open fulfillment order; fulfillmentCreate closes it. `lose_next_answer`
    makes Shopify do the work and the answer get lost (a 502 from a proxy)."""

    def __init__(self):
        self.fulfillments: list[dict] = []
        self.creates = 0
        self.lose_next_answer = False

    def __call__(self, request):
        body = request.get_json()
        if "fulfillmentCreate" in body["query"]:
            self.creates += 1
            spec = body["variables"]["fulfillment"]
            assert spec["lineItemsByFulfillmentOrder"] == [
                {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/1046000778"}
            ]
            created = {
                "id": f"gid://shopify/Fulfillment/{255858046 + len(self.fulfillments)}",
                "status": "SUCCESS",
                "trackingInfo": [{**spec["trackingInfo"]}],
            }
            self.fulfillments.append(created)
            if self.lose_next_answer:
                self.lose_next_answer = False
                return Response("<html>502 Bad Gateway</html>", status=502)
            data = {"fulfillmentCreate": {"fulfillment": created, "userErrors": []}}
        else:
            assert body["variables"]["id"] == "gid://shopify/Order/450789469"
            status = "CLOSED" if self.fulfillments else "OPEN"
            data = {
                "order": {
                    "fulfillments": [
                        {"id": f["id"], "trackingInfo": f["trackingInfo"]} for f in self.fulfillments
                    ],
                    "fulfillmentOrders": {
                        "nodes": [{"id": "gid://shopify/FulfillmentOrder/1046000778", "status": status}]
                    },
                }
            }
        return Response(json.dumps({"data": data, "extensions": COST}), content_type="application/json")


def test_a_shopify_fulfillment_is_pushed_exactly_once_across_a_retried_job(
    httpserver, run_worker, settings, django_capture_on_commit_callbacks
):
    settings.HUB_JOB_RETRY_INTERVALS = [0]
    fake = FakeShopifyFulfillments()
    fake.lose_next_answer = True
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_handler(fake)
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    order = an_order(channel)
    with django_capture_on_commit_callbacks(execute=True):
        fulfillment = fulfillment_create(
            order_id=order.pk,
            tracking_number="1Z001985YW99744790",
            carrier="UPS",
            url="https://ups.example/1Z0",
        )
    # Shopify fulfils, the answer is lost (502): the job fails, is retried at once (interval 0, in
    # the same burst), and the retry finds the fulfillment carrying its tracking number.
    run_worker("fulfillment")
    fulfillment.refresh_from_db()
    assert (fulfillment.push_status, fulfillment.push_attempts, fulfillment.external_id) == (
        PushStatus.PUSHED,
        2,
        "255858046",
    )
    assert fake.creates == 1 and len(fake.fulfillments) == 1
    assert fake.fulfillments[0]["trackingInfo"] == [
        {"number": "1Z001985YW99744790", "company": "UPS", "url": "https://ups.example/1Z0"}
    ]
    assert fulfillment_push(fulfillment.pk).push_status == PushStatus.PUSHED  # again: nothing happens
    assert fake.creates == 1


def test_a_woocommerce_fulfillment_adds_one_tracking_note_and_completes_the_order(httpserver):
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck_test", consumer_secret="cs_test"
    )
    order = an_order(channel, external_id="727")
    notes: list[dict] = []
    statuses: list[str] = []

    def add_note(request):
        note = {"id": 281 + len(notes), **request.get_json()}
        notes.append(note)
        return Response(json.dumps(note), status=201, content_type="application/json")

    def update(request):
        statuses.append(request.get_json()["status"])
        return Response(json.dumps({"id": 727, "status": statuses[-1]}), content_type="application/json")

    httpserver.expect_request("/wp-json/wc/v3/orders/727/notes", method="GET").respond_with_handler(
        lambda request: Response(json.dumps(notes), content_type="application/json")
    )
    httpserver.expect_request("/wp-json/wc/v3/orders/727/notes", method="POST").respond_with_handler(add_note)
    httpserver.expect_request("/wp-json/wc/v3/orders/727", method="PUT").respond_with_handler(update)
    httpserver.expect_request("/wp-json/wc/v3/orders/727", method="GET").respond_with_json(
        fixture_json("woocommerce/webhooks/order_created.json")  # status processing
    )
    fulfillment = Fulfillment.objects.create(
        order=order, tracking_number="9400111899", tracking_company="USPS"
    )
    assert fulfillment_push(fulfillment.pk).push_status == PushStatus.PUSHED
    # As a retry after a lost answer would: the note is there, so none is added.
    Fulfillment.objects.filter(pk=fulfillment.pk).update(push_status=PushStatus.PENDING)
    assert fulfillment_push(fulfillment.pk).external_id == "281"
    assert len(notes) == 1 and notes[0]["customer_note"] is True
    assert "Tracking number: 9400111899" in notes[0]["note"] and "USPS" in notes[0]["note"]
    assert statuses == ["completed", "completed"]


def test_a_shopee_order_is_shipped_with_what_shopee_says_it_needs(httpserver):
    channel = factories.shopee_channel(api_base_url=httpserver.url_for(""), access_token="tok-1")
    detail = fixture_json("shopee/api/get_order_detail.json")
    order_sn = detail["response"]["order_list"][0]["order_sn"]
    order = an_order(channel, external_id=order_sn)
    ready = copy.deepcopy(detail)
    ready["response"]["order_list"][0]["order_status"] = "READY_TO_SHIP"
    shipped = []
    httpserver.expect_request("/api/v2/order/get_order_detail").respond_with_json(ready)
    httpserver.expect_request("/api/v2/logistics/get_shipping_parameter").respond_with_json(
        {"error": "", "message": "", "response": {"info_needed": {"non_integrated": ["tracking_number"]}}}
    )

    def ship(request):
        shipped.append(request.get_json())
        return Response(
            json.dumps({"error": "", "message": "", "request_id": "3dad66f4"}),
            content_type="application/json",
        )

    httpserver.expect_request("/api/v2/logistics/ship_order", method="POST").respond_with_handler(ship)
    fulfillment = Fulfillment.objects.create(order=order, tracking_number="SPX123", tracking_company="SPX")
    assert fulfillment_push(fulfillment.pk).push_status == PushStatus.PUSHED
    assert shipped == [{"order_sn": order_sn, "non_integrated": {"tracking_number": "SPX123"}}]


def test_a_shopee_order_already_shipped_is_not_shipped_again(httpserver):
    channel = factories.shopee_channel(api_base_url=httpserver.url_for(""), access_token="tok-1")
    detail = fixture_json("shopee/api/get_order_detail.json")  # COMPLETED
    order = an_order(channel, external_id=detail["response"]["order_list"][0]["order_sn"])
    httpserver.expect_request("/api/v2/order/get_order_detail").respond_with_json(detail)
    fulfillment = Fulfillment.objects.create(order=order, tracking_number="SPX123", tracking_company="SPX")
    assert fulfillment_push(fulfillment.pk).push_status == PushStatus.PUSHED
    assert [request.path for request, _ in httpserver.log] == ["/api/v2/order/get_order_detail"]


def test_a_refused_push_fails_with_the_platforms_reason(
    admin_client, httpserver, run_worker, django_capture_on_commit_callbacks
):
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_json(
        {"errors": "[API] Invalid API key"}, status=401
    )
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_revoked")
    with django_capture_on_commit_callbacks(execute=True):
        fulfillment = fulfillment_create(order_id=an_order(channel).pk, tracking_number="1Z", carrier="UPS")
    run_worker("fulfillment")
    fulfillment.refresh_from_db()
    assert fulfillment.push_status == PushStatus.FAILED and "Invalid API key" in fulfillment.push_error
    # Ops find it on the failed-jobs page by its order, linked, and retry it there.
    assert get_queue("fulfillment").failed_job_registry.get_job_ids() == [fulfillment.job_id]
    page = admin_client.get(reverse("admin:django_rq_failed_all"), {"q": "#1001"}).content.decode()
    assert fulfillment.job_id in page and ">order #1001</a>" in page


def test_fulfill_queues_the_push(django_capture_on_commit_callbacks, capsys):
    order = an_order(factories.shopify_channel(access_token="shpat_test"))
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "fulfill",
            str(order.pk),
            "--tracking",
            "1Z",
            "--carrier",
            "UPS",
            "--url",
            "https://ups.example/1Z",
        )
    fulfillment = Fulfillment.objects.get()
    assert get_queue("fulfillment").job_ids == [fulfillment.job_id]
    assert f"fulfillment {fulfillment.pk} of order {order.pk} queued" in capsys.readouterr().out
    with pytest.raises(Exception, match="no order 999999"):
        call_command("fulfill", "999999", "--tracking", "1Z", "--carrier", "UPS")


def test_a_fulfillment_added_in_the_admin_is_pushed(admin_client, django_capture_on_commit_callbacks):
    from django.urls import reverse

    order = an_order(factories.shopify_channel())
    url = reverse("admin:orders_order_change", args=[order.pk])
    form = {
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
        "fulfillments-TOTAL_FORMS": "1",
        "fulfillments-INITIAL_FORMS": "0",
        "fulfillments-0-tracking_number": "1Z999",
        "fulfillments-0-tracking_company": "UPS",
        "fulfillments-0-tracking_url": "",
        "fulfillments-0-order": str(order.pk),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    fulfillment = Fulfillment.objects.get(order=order)
    assert get_queue("fulfillment").job_ids == [fulfillment.job_id]


def post_fulfillment(client, body, event_id):
    return post_shopify(
        client,
        None,
        "fulfillments/create",
        body,
        event_id=event_id,
        secret=factories.SHOPIFY_SECRET,
        shop=factories.SHOPIFY_SHOP,
    )


def test_a_fulfillment_made_in_shopify_is_recorded_once_and_an_echo_of_ours_marks_it_pushed(
    client, run_worker, django_capture_on_commit_callbacks
):
    from tests.platforms import fixture_bytes

    channel = factories.shopify_channel()
    order = an_order(channel, external_id="820982911946154508")
    body = fixture_bytes("shopify/webhooks/fulfillments_create.json")  # UPS 1z827wk74630, id 123456
    for event_id in ("f1", "f2"):  # the same fulfillment reported twice
        with django_capture_on_commit_callbacks(execute=True):
            post_fulfillment(client, body, event_id)
        run_worker("webhooks")
    recorded = Fulfillment.objects.get(order=order)
    assert (
        recorded.external_id,
        recorded.tracking_number,
        recorded.tracking_company,
        recorded.push_status,
    ) == (
        "123456",
        "1z827wk74630",
        "UPS",
        PushStatus.PUSHED,
    )
    assert get_queue("fulfillment").count == 0  # made on Shopify: nothing to push back
    # One of ours whose answer was lost, reported back by Shopify: the same row, now pushed.
    ours = Fulfillment.objects.create(order=order, tracking_number="1Z-OURS", tracking_company="UPS")
    echo = json.loads(body) | {"id": 777, "tracking_number": "1Z-OURS"}
    with django_capture_on_commit_callbacks(execute=True):
        post_fulfillment(client, json.dumps(echo).encode(), "f3")
    run_worker("webhooks")
    ours.refresh_from_db()
    assert (ours.external_id, ours.push_status) == ("777", PushStatus.PUSHED)
    assert Fulfillment.objects.filter(order=order).count() == 2


def test_a_cancelled_woocommerce_order_is_not_marked_completed(httpserver):
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck_test", consumer_secret="cs_test"
    )
    order = an_order(channel, external_id="727")
    cancelled = fixture_json("woocommerce/webhooks/order_created.json") | {"status": "cancelled"}
    httpserver.expect_request("/wp-json/wc/v3/orders/727", method="GET").respond_with_json(cancelled)
    fulfillment = Fulfillment.objects.create(order=order, tracking_number="1Z", tracking_company="UPS")
    with pytest.raises(Exception, match="is cancelled: not marked completed"):
        fulfillment_push(fulfillment.pk)
    fulfillment.refresh_from_db()
    assert fulfillment.push_status == PushStatus.FAILED
    assert [request.method for request, _ in httpserver.log] == ["GET"]  # no note, no status change


def test_a_push_whose_job_was_lost_is_enqueued_by_the_sweep():
    from datetime import timedelta

    from django.utils import timezone

    from orders.fulfillments import fulfillments_sweep

    order = an_order(factories.shopify_channel())
    lost = Fulfillment.objects.create(order=order, tracking_number="1Z", tracking_company="UPS")
    Fulfillment.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert fulfillments_sweep() == 1
    assert get_queue("fulfillment").job_ids == [lost.job_id]
    assert fulfillments_sweep() == 0  # its job is there now


def test_a_shopee_order_is_picked_up_where_shopee_offers_a_pickup_address(httpserver):
    channel = factories.shopee_channel(api_base_url=httpserver.url_for(""), access_token="tok-1")
    detail = copy.deepcopy(fixture_json("shopee/api/get_order_detail.json"))
    detail["response"]["order_list"][0]["order_status"] = "READY_TO_SHIP"
    order = an_order(channel, external_id=detail["response"]["order_list"][0]["order_sn"])
    httpserver.expect_request("/api/v2/order/get_order_detail").respond_with_json(detail)
    parameters = {
        "info_needed": {"dropoff": [], "pickup": ["address_id", "pickup_time_id"]},
        "pickup": {
            "address_list": [
                {"address_id": 1, "address_flag": ["default_address"], "time_slot_list": []},
                {
                    "address_id": 2,
                    "address_flag": ["pickup_address"],
                    "time_slot_list": [{"pickup_time_id": "t9"}],
                },
            ]
        },
    }
    httpserver.expect_request("/api/v2/logistics/get_shipping_parameter").respond_with_json(
        {"error": "", "message": "", "response": parameters}
    )
    shipped = []
    httpserver.expect_request("/api/v2/logistics/ship_order", method="POST").respond_with_handler(
        lambda request: (
            shipped.append(request.get_json()) or Response('{"error": ""}', content_type="application/json")
        )
    )
    fulfillment = Fulfillment.objects.create(order=order, tracking_number="", tracking_company="SPX")
    assert fulfillment_push(fulfillment.pk).push_status == PushStatus.PUSHED
    assert shipped[0]["pickup"] == {"address_id": 2, "pickup_time_id": "t9"}


def test_a_shopify_order_shipped_from_two_locations_is_fulfilled_per_location(httpserver):
    creates = []

    def graphql(request):
        body = request.get_json()
        if "fulfillmentCreate" in body["query"]:
            creates.append(body["variables"]["fulfillment"]["lineItemsByFulfillmentOrder"])
            fulfillment = {
                "id": f"gid://shopify/Fulfillment/{len(creates)}",
                "status": "SUCCESS",
                "trackingInfo": [],
            }
            data = {"fulfillmentCreate": {"fulfillment": fulfillment, "userErrors": []}}
        else:

            def fo(n, location, status="OPEN"):
                return {
                    "id": f"gid://shopify/FulfillmentOrder/{n}",
                    "status": status,
                    "assignedLocation": {"location": {"id": f"gid://shopify/Location/{location}"}},
                }

            nodes = [fo(1, "A"), fo(2, "B"), fo(3, "A"), fo(4, "A", "SCHEDULED"), fo(5, "B", "CLOSED")]
            data = {"order": {"fulfillments": [], "fulfillmentOrders": {"nodes": nodes}}}
        return Response(json.dumps({"data": data, "extensions": COST}), content_type="application/json")

    httpserver.expect_request(GRAPHQL, method="POST").respond_with_handler(graphql)
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    fulfillment = Fulfillment.objects.create(
        order=an_order(channel), tracking_number="1Z", tracking_company="UPS"
    )
    assert fulfillment_push(fulfillment.pk).external_id == "1,2"
    assert creates == [
        [
            {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/1"},
            {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/3"},
        ],
        [{"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/2"}],
    ]
