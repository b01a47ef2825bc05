"""Shopify webhook registration and the subscription liveness check, against its API's shapes."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from werkzeug import Response

from channels_app.handlers import topics_for
from channels_app.models import SubscriptionState, SyncKind, SyncRun, SyncStatus, WebhookSubscription
from channels_app.sync import subscriptions_check
from tests.channels_app import factories
from tests.platforms import fixture_json, shopify_cost, shopify_graphql_path

pytestmark = pytest.mark.django_db

GRAPHQL = shopify_graphql_path()
CREATED = fixture_json("shopify/graphql/webhookSubscriptionCreate.json")["examples"][1]["response_data"]
COST = shopify_cost()


class FakeShopifyWebhooks:
    """Shopify's webhookSubscriptions and webhookSubscriptionCreate, holding what was created."""

    def __init__(self):
        self.subscriptions: dict[str, dict] = {}
        self.next_id = 8589934631
        self.app_version = "2026-10"  # the webhooks API version configured in the app

    def __call__(self, request):
        body = request.get_json()
        if "webhookSubscriptionCreate" in body["query"]:
            variables = body["variables"]
            answer = json.loads(json.dumps(CREATED))  # the documented answer, with this call's values
            created = answer["webhookSubscriptionCreate"]["webhookSubscription"]
            created["id"] = f"gid://shopify/WebhookSubscription/{self.next_id}"
            created["topic"] = variables["topic"]
            # 2026-10's shape: `uri` (endpoint / callbackUrl are deprecated since 2025-04).
            del created["endpoint"]
            created["uri"] = variables["webhookSubscription"]["uri"]
            # "inherited from the app that created the webhook subscription" (WebhookSubscription.apiVersion)
            created["apiVersion"] = {"handle": self.app_version}
            self.next_id += 1
            self.subscriptions[created["id"]] = created
            data = answer
        else:
            nodes = list(self.subscriptions.values())
            data = {
                "webhookSubscriptions": {
                    "pageInfo": {"hasNextPage": False, "endCursor": None},
                    "nodes": nodes,
                }
            }
        return Response(json.dumps({"data": data, "extensions": COST}), content_type="application/json")


@pytest.fixture
def shopify(httpserver):
    fake = FakeShopifyWebhooks()
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_handler(fake)
    channel = factories.shopify_channel(api_base_url=httpserver.url_for(""), access_token="shpat_test")
    return channel, fake


def test_shopify_webhooks_are_registered_for_every_handled_topic_once(shopify, capsys):
    channel, fake = shopify
    call_command("register_webhooks", str(channel.pk))
    topics = sorted(s["topic"] for s in fake.subscriptions.values())
    assert topics == sorted(t.upper().replace("/", "_") for t in topics_for("shopify"))
    assert {s["uri"] for s in fake.subscriptions.values()} == {channel.webhook_url}
    assert set(WebhookSubscription.objects.values_list("state", flat=True)) == {SubscriptionState.ACTIVE}
    assert "orders/create" in capsys.readouterr().out
    call_command("register_webhooks", str(channel.pk))  # again: all are there, nothing is created
    assert len(fake.subscriptions) == len(topics_for("shopify"))
    assert SyncRun.objects.latest("pk").counters == {"already_active": len(topics_for("shopify"))}


def test_a_deleted_shopify_subscription_is_found_registered_again_and_its_gap_recorded(
    shopify, run_worker, django_capture_on_commit_callbacks
):
    channel, fake = shopify
    call_command("register_webhooks", str(channel.pk))
    deleted = next(k for k, s in fake.subscriptions.items() if s["topic"] == "ORDERS_CREATE")
    del fake.subscriptions[deleted]  # the merchant, or Shopify after failed deliveries, removed it
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions_check() == {"checked": 1, "re_registered": 1}
    lost = WebhookSubscription.objects.get(channel=channel, topic="orders/create")
    assert lost.state == SubscriptionState.MISSING and lost.gap_since is not None
    run_worker("channel-sync")
    assert sorted(s["topic"] for s in fake.subscriptions.values()).count("ORDERS_CREATE") == 1
    lost.refresh_from_db()
    assert lost.state == SubscriptionState.ACTIVE
    run = SyncRun.objects.filter(kind=SyncKind.WEBHOOKS).latest("pk")
    assert (run.status, run.counters, run.requested_by) == (
        SyncStatus.SUCCEEDED,
        {"already_active": len(topics_for("shopify")) - 1, "created": 1},
        "subscription check",
    )
    # And the gap is backfilled at once: a reconciliation from the gap's start.
    backfill = SyncRun.objects.get(kind=SyncKind.RECONCILE)
    assert backfill.requested_by == "subscription check" and backfill.since is not None
    assert backfill.since <= lost.checked_at


def test_the_channel_admin_actions_queue_runs_whose_progress_the_admin_shows(
    admin_client, shopify, run_worker, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    channel, fake = shopify
    url = reverse("admin:channels_app_channel_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url, {"action": "register_webhooks", "_selected_action": [channel.pk]}, follow=True
        )
    assert "Webhook registration queued for 1 channel:" in response.content.decode()
    runs = admin_client.get(reverse("admin:channels_app_syncrun_changelist")).content.decode()
    assert 'data-running="true"' in runs  # its cells update in place while the run is queued
    run_worker("channel-sync")
    runs = admin_client.get(reverse("admin:channels_app_syncrun_changelist")).content.decode()
    assert "<progress max='100' value='100'" in runs and 'data-running="false"' in runs
    page = admin_client.get(reverse("admin:channels_app_channel_change", args=[channel.pk])).content.decode()
    assert "orders/create" in page and "Webhook registration #" in page


def test_shopify_webhooks_are_subscribed_through_the_hubs_version_and_keep_the_apps(
    shopify, httpserver, django_capture_on_commit_callbacks
):
    """The payloads' version is the app's configured one, whatever the request's URL: the hub
    records what Shopify lists and never deletes a working subscription over it."""
    channel, fake = shopify
    fake.app_version = "2026-07"
    call_command("register_webhooks", str(channel.pk))

    paths = {request.path for request, _ in httpserver.log}
    assert paths == {shopify_graphql_path()}  # the hub's SHOPIFY_API_VERSION (2026-10)
    assert set(WebhookSubscription.objects.values_list("api_version", flat=True)) == {"2026-07"}
    created = set(fake.subscriptions)

    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions_check() == {"checked": 1, "re_registered": 0}
    call_command("register_webhooks", str(channel.pk))

    assert set(fake.subscriptions) == created  # nothing deleted, nothing made twice
    assert SyncRun.objects.latest("pk").counters == {"already_active": len(topics_for("shopify"))}
