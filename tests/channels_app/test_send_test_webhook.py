"""`manage.py send_test_webhook`: a sample of every handled topic, signed as its platform signs it,
sent to a running hub (pytest-django's live server), which verifies and records it."""

import fnmatch
import io
import json
import threading
import time
import tomllib
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from werkzeug import Response

from channels_app.handlers import PLATFORMS
from channels_app.management.commands.send_test_webhook import SIMULATORS
from channels_app.models import EventStatus, ProcessedWebhookEvent
from channels_app.platforms.simulation import sample_name
from orders.models import Order
from tests.channels_app import factories
from tests.platforms import b64_hmac, easypost_signature, shopee_authorization, twilio_signature

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token"
CARRIER_SECRET = "sécret"  # EasyPost normalises it (NFKD) before signing


def make_channel(platform: str):
    return {
        "shopify": lambda: factories.shopify_channel(),
        "woocommerce": lambda: factories.woocommerce_channel(),
        "shopee": lambda: factories.shopee_channel(),
        "twilio": lambda: factories.twilio_channel(shop_identifier=TWILIO_SID, webhook_secret=TWILIO_TOKEN),
        "easypost": lambda: factories.easypost_channel(
            shop_identifier="acme-easypost", webhook_secret=CARRIER_SECRET
        ),
        "aftership": lambda: factories.aftership_channel(
            shop_identifier="acme-aftership", webhook_secret=CARRIER_SECRET
        ),
    }[platform]()


EVERY_TOPIC = [(platform, topic) for platform, module in SIMULATORS.items() for topic in module.TOPICS]


@pytest.mark.parametrize(("platform", "topic"), EVERY_TOPIC, ids=[f"{p}:{t}" for p, t in EVERY_TOPIC])
def test_the_running_hub_verifies_and_records_each_topic_sent(platform, topic, live_server, settings):
    settings.WEBHOOK_BASE_URL = live_server.url
    channel = make_channel(platform)
    out = io.StringIO()
    call_command("send_test_webhook", str(channel.pk), topic, "--wait", "0", stdout=out)
    # Stored means verified: the hub stores nothing whose signature fails (401).
    event = ProcessedWebhookEvent.objects.get()
    assert (event.channel, event.source, event.topic) == (channel, platform, topic)
    assert event.status == EventStatus.ENQUEUED and event.payload
    printed = out.getvalue()
    assert f"{platform} {topic} to {live_server.url}/webhooks/" in printed and ": HTTP 200" in printed
    assert f"event {event.pk}: ENQUEUED" in printed
    assert f"{live_server.url}/admin/channels_app/processedwebhookevent/{event.pk}/change/" in printed


def test_each_run_is_a_new_event(live_server, settings):
    """A new event id each time (Shopify's X-Shopify-Event-Id, Twilio's MessageSid): a new event,
    not a duplicate of the last run's."""
    settings.WEBHOOK_BASE_URL = live_server.url
    for channel, topic in (
        (factories.shopify_channel(), "orders/paid"),
        (make_channel("twilio"), "sms/inbound"),
    ):
        for _ in range(2):
            call_command("send_test_webhook", str(channel.pk), topic, "--wait", "0", stdout=io.StringIO())
        assert channel.webhook_events.filter(duplicate_count=0).count() == 2


def test_it_waits_for_the_worker_and_links_the_order_it_made(live_server, settings, run_worker):
    settings.WEBHOOK_BASE_URL = live_server.url
    channel = factories.shopify_channel()
    out = io.StringIO()

    def send() -> None:
        try:
            call_command(
                "send_test_webhook", channel.shop_identifier, "orders/paid", "--wait", "30", stdout=out
            )
        finally:
            connection.close()

    # The command waits in a thread while a worker of the webhooks queue runs here (rq's signal
    # handlers want the main thread).
    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 20
    while not ProcessedWebhookEvent.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    run_worker("webhooks")
    sender.join(timeout=30)
    order = Order.objects.get(channel=channel)
    event = ProcessedWebhookEvent.objects.get()
    assert f"event {event.pk}: COMPLETED" in out.getvalue()
    assert f"order #9999: {live_server.url}/admin/orders/order/{order.pk}/change/" in out.getvalue()
    assert order.financial_status == "paid"


def test_an_unknown_topic_is_refused_with_the_known_ones():
    channel = factories.woocommerce_channel()
    with pytest.raises(CommandError) as refused:
        call_command("send_test_webhook", str(channel.pk), "orders/paid")
    assert str(refused.value) == (
        "woocommerce has no sample webhook 'orders/paid'; known topics: order.created, order.deleted, "
        "order.restored, order.updated, product.updated"
    )


def test_an_unknown_channel_is_refused_with_the_channels_there_are():
    channel = factories.shopify_channel()
    with pytest.raises(CommandError, match=rf"no channel named 'nope'; channels: {channel.pk} \(shopify"):
        call_command("send_test_webhook", "nope", "orders/paid")


def test_a_hub_that_is_not_running_is_said_so(settings):
    settings.WEBHOOK_BASE_URL = "http://127.0.0.1:9"
    channel = factories.shopify_channel()
    with pytest.raises(
        CommandError,
        match=r"cannot reach the hub at http://127.0.0.1:9: ConnectionError. Is it running \(make run\)",
    ):
        call_command("send_test_webhook", str(channel.pk), "orders/paid")


def captured(httpserver, platform: str, topic: str):
    """What the command sends for `topic` to `httpserver` (--url), signing for the hub's public URL."""
    httpserver.expect_request("", method="POST").respond_with_response(Response(status=200))
    channel = make_channel(platform)
    call_command(
        "send_test_webhook", str(channel.pk), topic, "--url", httpserver.url_for(""), stdout=io.StringIO()
    )
    request, _ = httpserver.log[-1]
    return channel, request, request.get_data()


# Each platform's signature, computed from its documentation (tests/platforms.py), not the hub's code.
def test_shopify_and_woocommerce_sign_as_documented(httpserver, settings):
    channel, request, body = captured(httpserver, "shopify", "orders/create")
    assert request.path == "/webhooks/shopify/"
    assert request.headers["X-Shopify-Hmac-Sha256"] == b64_hmac(factories.SHOPIFY_SECRET, body)
    assert request.headers["X-Shopify-Shop-Domain"] == channel.shop_identifier
    assert request.headers["X-Shopify-Topic"] == "orders/create"
    channel, request, body = captured(httpserver, "woocommerce", "order.created")
    assert request.path == f"/webhooks/woocommerce/{channel.pk}/"
    # WooCommerce keys the HMAC with the secret after WordPress' entity decoding (&amp; is &).
    assert request.headers["X-WC-Webhook-Signature"] == b64_hmac("woo-secret&1", body)
    assert json.loads(body)["id"] == 727


def test_shopee_and_twilio_sign_the_hubs_public_url(httpserver, settings):
    settings.WEBHOOK_BASE_URL = "https://hub.example.com"
    channel, request, body = captured(httpserver, "shopee", "order_status")
    assert request.headers["Authorization"] == shopee_authorization(
        partner_key=factories.SHOPEE_PARTNER_KEY,
        callback_url="https://hub.example.com/webhooks/shopee/",
        body=body,
    )
    assert json.loads(body)["shop_id"] == int(channel.shop_identifier) and json.loads(body)["code"] == 3
    channel, request, body = captured(httpserver, "twilio", "sms/inbound")
    form = parse_qsl(body.decode(), keep_blank_values=True)
    url = "https://hub.example.com/webhooks/sms/twilio/inbound/"
    assert request.headers["X-Twilio-Signature"] == twilio_signature(TWILIO_TOKEN, url, form)
    assert dict(form)["AccountSid"] == TWILIO_SID


def test_carriers_sign_as_documented(httpserver):
    channel, request, body = captured(httpserver, "easypost", "tracker.updated")
    assert request.path == f"/webhooks/carriers/easypost/{channel.pk}/"
    assert request.headers["X-Hmac-Signature"] == easypost_signature(CARRIER_SECRET, body)
    channel, request, body = captured(httpserver, "aftership", "edd_revise")
    assert request.headers["aftership-hmac-sha256"] == b64_hmac(CARRIER_SECRET, body)


def test_every_topic_a_platform_handles_has_a_sample():
    for platform, module in PLATFORMS.items():
        assert SIMULATORS[platform].TOPICS == sorted(module.HANDLERS)
        folder = ROOT / "channels_app" / "platforms" / platform / "samples"
        assert sorted(path.name for path in folder.iterdir()) == sorted(map(sample_name, module.HANDLERS))


def test_the_samples_ship_in_the_package():
    """The app reads its samples as package data (importlib.resources): setuptools installs only
    the data files pyproject.toml declares."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    samples = sorted((ROOT / "channels_app" / "platforms").glob("*/samples/*.json"))
    assert samples
    for path in samples:
        package_dir = path.parent.parent
        package = ".".join(package_dir.relative_to(ROOT).parts)
        relative = str(path.relative_to(package_dir))
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in declared.get(package, [])), path
