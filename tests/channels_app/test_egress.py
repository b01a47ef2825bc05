"""Outbound requests go only to public addresses (unless ops open a network), checked when the
socket connects and on every redirect; merchant-typed URLs are checked when saved; what a platform
(or a server a merchant named) answers is shown as status, error code and a short plain text."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from werkzeug import Response

from catalog_sync.models import Supplier
from channels_app import egress, http
from channels_app.models import Channel, Platform
from tests.channels_app import factories

pytestmark = pytest.mark.django_db

CALL = http.Call(platform="test", channel_id=None, bucket=None)


@pytest.fixture
def closed(settings):
    """The hub as it ships: no private network opened."""
    settings.HUB_OUTBOUND_ALLOW_NETWORKS = []


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.10", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("100.64.0.1", "not a public"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "private"),  # unique local
        ("fe80::1%eth0", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("ff02::1", "multicast"),
    ],
)
def test_every_non_public_address_is_refused(closed, address, kind):
    refusal = egress.address_refusal(address)
    assert kind in refusal and "HUB_OUTBOUND_ALLOW_NETWORKS" in refusal


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(closed, address):
    assert egress.address_refusal(address) == ""


def test_ops_open_one_network_and_only_that_one(settings):
    settings.HUB_OUTBOUND_ALLOW_NETWORKS = ["10.0.5.0/24"]
    assert egress.address_refusal("10.0.5.9") == ""
    assert "private" in egress.address_refusal("10.0.6.1")
    assert "link-local" in egress.address_refusal("169.254.169.254")


def test_a_request_to_loopback_is_refused_and_never_sent(closed, httpserver):
    httpserver.expect_request("/wp-json/wc/v3/products").respond_with_json([])
    with pytest.raises(http.PlatformError) as refused:
        http.send(CALL, "GET", httpserver.url_for("/wp-json/wc/v3/products"))
    assert refused.value.permanent and refused.value.unsent
    assert "127.0.0.1 is a loopback address" in str(refused.value)
    assert httpserver.log == []


def test_the_address_is_checked_as_resolved_when_connecting(closed, httpserver, monkeypatch):
    """DNS rebinding: the name looked public when the URL was checked, and resolves to loopback
    when the request connects. The connection is refused; nothing reaches the server."""
    real = socket.getaddrinfo
    answers = iter(["93.184.215.14", "127.0.0.1"])

    def rebinding(host, port, *args, **kwargs):
        if host == "store.example":
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://store.example:{httpserver.port}/"
    assert egress.url_refusal(url, resolve=True) == ""  # what a form saw
    with pytest.raises(http.PlatformError, match="127.0.0.1 is a loopback address"):
        http.send(CALL, "GET", url)
    assert httpserver.log == []


def test_a_redirect_to_a_private_address_is_refused(settings, httpserver):
    settings.HUB_OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32"]
    httpserver.expect_request("/moved").respond_with_response(
        Response(status=302, headers={"Location": f"http://127.0.0.2:{httpserver.port}/inside"})
    )
    with pytest.raises(http.PlatformError, match="127.0.0.2 is a loopback address"):
        http.send(CALL, "GET", httpserver.url_for("/moved"), follow_redirects=True)


def test_a_redirect_to_another_scheme_is_refused(httpserver):
    httpserver.expect_request("/moved").respond_with_response(
        Response(status=302, headers={"Location": "file:///etc/passwd"})
    )
    with pytest.raises(http.PlatformError, match="only http and https"):
        http.send(CALL, "GET", httpserver.url_for("/moved"), follow_redirects=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http and https"),
        ("http://admin:secret@shop.example.com/", "user name or password"),
    ],
)
def test_urls_of_other_schemes_or_with_credentials_are_refused_before_anything_is_sent(url, reason):
    with pytest.raises(http.PlatformError, match=reason) as refused:
        http.send(CALL, "GET", url)
    assert refused.value.permanent and refused.value.unsent


def test_proxies_from_the_environment_are_not_used(httpserver, monkeypatch):
    """Through a proxy the proxy would connect, unchecked: the hub's requests never use one."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")  # nothing listens: it would fail
    monkeypatch.setenv("NO_PROXY", "")
    httpserver.expect_request("/ok").respond_with_data("ok")
    http._local.__dict__.pop("session", None)
    assert http.send(CALL, "GET", httpserver.url_for("/ok")).text == "ok"


# --- Saving URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "field", "value", "reason"),
    [
        ("woocommerce", "shop_identifier", "http://127.0.0.1:6379", "loopback"),
        ("woocommerce", "shop_identifier", "http://localhost:8000", "resolves to ::1 is a loopback|loopback"),
        ("woocommerce", "shop_identifier", "http://user:pw@shop.example.com", "user name or password"),
        ("woocommerce", "shop_identifier", "ftp://shop.example.com", "only http and https"),
        ("shopify", "shop_identifier", "127.0.0.1:6379", "myshopify.com domain"),
        ("shopify", "shop_identifier", "https://acme.myshopify.com/admin", "myshopify.com domain"),
        ("shopify", "api_base_url", "http://169.254.169.254/latest/", "link-local"),
    ],
)
def test_a_merchant_url_the_hub_would_not_call_is_refused_on_save(closed, platform, field, value, reason):
    channel = Channel(platform=platform, shop_identifier="acme.myshopify.com", name="x")
    if platform == Platform.WOOCOMMERCE:
        channel.shop_identifier = "https://shop.example.com"
    setattr(channel, field, value)
    with pytest.raises(ValidationError) as refused:
        channel.clean()
    assert field in refused.value.message_dict
    assert any(part in refused.value.message_dict[field][0] for part in reason.split("|"))


def test_the_channel_form_names_the_rule(closed, client):
    admin = User.objects.create_superuser("root", password="pw")
    client.force_login(admin)
    organization = factories.shopify_channel().organization
    response = client.post(
        reverse("admin:channels_app_channel_add"),
        {
            "organization": organization.pk,
            "name": "Mine",
            "platform": "woocommerce",
            "shop_identifier": "http://127.0.0.1:6379",
            "api_rate_limit": "",
            "is_active": "on",
            "locations-TOTAL_FORMS": "0",
            "locations-INITIAL_FORMS": "0",
            "subscriptions-TOTAL_FORMS": "0",
            "subscriptions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with its error
    assert "127.0.0.1 is a loopback address" in response.content.decode()
    assert not Channel.objects.filter(platform="woocommerce").exists()


def test_create_channel_and_add_supplier_refuse_private_urls(closed):
    with pytest.raises(CommandError, match="loopback"):
        call_command(
            "create_channel",
            "--org=acme",
            "--platform=woocommerce",
            "--site-url=http://127.0.0.1:6379",
            "--webhook-secret=s",
        )
    factories.shopify_channel()
    with pytest.raises(CommandError, match="link-local"):
        call_command(
            "add_supplier", "--org=acme", "--code=A1", "--name=A", "--feed-url=http://169.254.169.254/feed"
        )
    assert not Supplier.objects.exists()


# --- What is shown of an answer -------------------------------------------------------------------


def test_an_html_error_page_is_shown_as_a_short_plain_text(httpserver):
    page = "<html><head><style>body{}</style></head><body><h1>Not Found</h1>" + "<p>x</p>" * 2000
    httpserver.expect_request("/gone").respond_with_data(page, status=404, content_type="text/html")
    with pytest.raises(http.PlatformError) as failed:
        http.send(CALL, "GET", httpserver.url_for("/gone"))
    message = str(failed.value)
    assert "answered 404: Not Found x x" in message
    assert "<" not in message and "body{}" not in message
    assert len(message) < 300


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            {
                "code": "woocommerce_rest_cannot_view",
                "message": "Sorry, you cannot list resources.",
                "data": {"status": 401},
            },
            "woocommerce_rest_cannot_view: Sorry, you cannot list resources.",
        ),
        ({"errors": "[API] Invalid API key or access token"}, "[API] Invalid API key or access token"),
        ({"error": "error_auth", "message": "Invalid access_token."}, "error_auth: Invalid access_token."),
        (
            {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
            },
            "20003: Authenticate",
        ),
        (
            {"error": {"code": "NOT_FOUND", "message": "The requested resource could not be found."}},
            "NOT_FOUND: The requested resource could not be found.",
        ),
        (
            {"meta": {"code": 4104, "message": "The value of `tracking_number` is invalid."}, "data": {}},
            "4104: The value of `tracking_number` is invalid.",
        ),
    ],
)
def test_a_platforms_error_answer_is_shown_as_its_code_and_message(httpserver, body, shown):
    httpserver.expect_request("/refused").respond_with_json(body, status=401)
    with pytest.raises(http.PlatformError) as failed:
        http.send(CALL, "GET", httpserver.url_for("/refused"))
    assert str(failed.value).endswith(f"answered 401: {shown}")


def test_verify_connection_never_calls_a_store_on_the_hubs_own_network(closed, client, httpserver):
    """The attack as it was found: a merchant points their store at the hub's own network, and
    "Verify connection" sends their credentials there and shows what came back."""
    httpserver.expect_request("/wp-json/wc/v3/products").respond_with_data(
        "redis_version:7.0.15\r\nrole:master", status=500
    )
    channel = factories.woocommerce_channel(consumer_key="ck", consumer_secret="cs")
    Channel.objects.filter(pk=channel.pk).update(shop_identifier=httpserver.url_for("").rstrip("/"))
    user = User.objects.create_superuser("root", password="pw")
    client.force_login(user)
    response = client.post(
        reverse("admin:channels_app_channel_changelist"),
        {"action": "verify_connection", "_selected_action": [channel.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "127.0.0.1 is a loopback address" in page
    assert "redis_version" not in page
    assert httpserver.log == []


def test_an_answer_past_the_size_bound_is_refused_without_reading_it_all(httpserver, monkeypatch):
    monkeypatch.setattr(http, "MAX_ANSWER_BYTES", 64 * 1024)
    httpserver.expect_request("/huge").respond_with_data(b"[" + b"1," * 100_000 + b"1]")
    httpserver.expect_request("/small").respond_with_json({"ok": True})
    with pytest.raises(http.PlatformError, match="over the limit of 65536") as refused:
        http.send(CALL, "GET", httpserver.url_for("/huge"))
    assert refused.value.permanent
    assert http.json_body(http.send(CALL, "GET", httpserver.url_for("/small")), CALL) == {"ok": True}
