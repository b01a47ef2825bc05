"""WooCommerce webhook registration and the subscription liveness check, against its REST API's
shapes."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from werkzeug import Response

from channels_app.handlers import topics_for
from channels_app.models import SubscriptionState, WebhookSubscription
from channels_app.sync import subscriptions_check
from tests.channels_app import factories

pytestmark = pytest.mark.django_db


def test_a_disabled_woocommerce_webhook_is_switched_back_on(
    httpserver, django_capture_on_commit_callbacks, run_worker
):
    channel = factories.woocommerce_channel(
        api_base_url=httpserver.url_for(""), consumer_key="ck_test", consumer_secret="cs_test"
    )
    hooks: dict[int, dict] = {}

    def create(request):
        body = request.get_json()
        assert body["secret"] == factories.WOO_SECRET and body["status"] == "active"
        hook = {
            "id": 142 + len(hooks),
            "status": "active",
            "topic": body["topic"],
            "delivery_url": body["delivery_url"],
        }
        hooks[hook["id"]] = hook
        return Response(json.dumps(hook), status=201, content_type="application/json")

    def update(request):
        hook_id = int(request.path.rsplit("/", 1)[-1])
        hooks[hook_id] |= request.get_json()
        return Response(json.dumps(hooks[hook_id]), content_type="application/json")

    httpserver.expect_request("/wp-json/wc/v3/webhooks", method="POST").respond_with_handler(create)
    httpserver.expect_request("/wp-json/wc/v3/webhooks", method="GET").respond_with_handler(
        lambda request: Response(json.dumps(list(hooks.values())), content_type="application/json")
    )
    for hook_id in range(142, 150):
        httpserver.expect_request(f"/wp-json/wc/v3/webhooks/{hook_id}", method="PUT").respond_with_handler(
            update
        )
    call_command("register_webhooks", str(channel.pk))
    assert sorted(h["topic"] for h in hooks.values()) == topics_for("woocommerce")
    # WooCommerce disables a webhook after five failed deliveries in a row, and never retries.
    disabled = next(h for h in hooks.values() if h["topic"] == "order.updated")
    disabled["status"] = "disabled"
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions_check()["re_registered"] == 1
    assert WebhookSubscription.objects.get(topic="order.updated").state == SubscriptionState.DISABLED
    run_worker("channel-sync")
    assert disabled["status"] == "active" and len(hooks) == len(topics_for("woocommerce"))
    assert WebhookSubscription.objects.get(topic="order.updated").state == SubscriptionState.ACTIVE
