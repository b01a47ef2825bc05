"""The channel form shows the fields of the channel's platform, and only those, in its words."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from channels_app.models import Channel, Organization, Platform
from channels_app.services import channel_create

pytestmark = pytest.mark.django_db

PLATFORM_ONLY = {
    "partner_id",
    "access_token",
    "refresh_token",
    "consumer_key",
    "consumer_secret",
    "push_catalog",
}
# Per platform: (fields shown, of PLATFORM_ONLY and the store's; its shop's and secret's labels).
EXPECTED = {
    Platform.SHOPIFY: (
        {"access_token", "push_catalog", "allow_backorders"},
        "Shop domain (….myshopify.com)",
        "App secret",
    ),
    Platform.WOOCOMMERCE: (
        {"consumer_key", "consumer_secret", "push_catalog", "allow_backorders"},
        "Site URL",
        "Webhook secret",
    ),
    Platform.SHOPEE: (
        {"partner_id", "access_token", "refresh_token", "allow_backorders"},
        "Shop id",
        "Partner key",
    ),
    Platform.EASYPOST: (set(), "Account name", "Webhook secret"),
    Platform.AFTERSHIP: (set(), "Account name", "Webhook secret"),
    Platform.TWILIO: (set(), "Account SID", "Auth token"),
}
SHOPS = {
    Platform.SHOPIFY: "acme.myshopify.com",
    Platform.WOOCOMMERCE: "https://shop.example.com",
    Platform.SHOPEE: "727720655",
    Platform.EASYPOST: "acme-easypost",
    Platform.AFTERSHIP: "acme-aftership",
    Platform.TWILIO: "AC0123456789abcdef0123456789abcdef",
}


@pytest.fixture
def root(client):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def inputs(page: str) -> set[str]:
    return set(re.findall(r'name="([a-z_]+)"', page))


def label(page: str, field: str) -> str:
    found = re.search(rf'<label[^>]*for="id_{field}"[^>]*>([^<]*)</label>', page)
    return found[1].rstrip(":") if found else ""


@pytest.mark.parametrize("platform", list(EXPECTED), ids=str)
def test_a_channels_page_shows_the_fields_of_its_platform(root, platform):
    channel = channel_create(
        organization_slug="acme", platform=platform, shop_identifier=SHOPS[platform], webhook_secret="s"
    )
    page = root.get(reverse("admin:channels_app_channel_change", args=[channel.pk])).content.decode()
    shown, shop_label, secret_label = EXPECTED[platform]
    fields = inputs(page)
    assert {"name", "platform", "shop_identifier", "webhook_secret", "previous_webhook_secret"} <= fields
    assert fields & (PLATFORM_ONLY | {"allow_backorders"}) == shown
    assert (label(page, "shop_identifier"), label(page, "webhook_secret")) == (shop_label, secret_label)
    has_locations = "locations-TOTAL_FORMS" in page
    assert has_locations == (platform in (Platform.SHOPIFY, Platform.WOOCOMMERCE, Platform.SHOPEE))
    assert ("API versions" in page) == (platform == Platform.SHOPIFY)


def test_a_new_channel_asks_for_its_platform_first_then_shows_its_fields(root):
    url = reverse("admin:channels_app_channel_add")
    first = root.get(url).content.decode()
    assert inputs(first) & {"organization", "name", "platform", "shop_identifier"} == {
        "organization",
        "name",
        "platform",
    }
    assert "channels_app/channel_platform.js" in first
    shopee = root.get(f"{url}?platform=shopee").content.decode()
    assert {"shop_identifier", "partner_id", "refresh_token"} <= inputs(shopee)
    assert "consumer_key" not in inputs(shopee)


def test_a_twilio_channel_is_added_with_only_its_own_fields(root):
    organization = Organization.objects.create(name="Acme", slug="acme")
    response = root.post(
        reverse("admin:channels_app_channel_add"),
        {
            "organization": organization.pk,
            "name": "SMS",
            "platform": "twilio",
            "shop_identifier": SHOPS[Platform.TWILIO],
            "webhook_secret": "auth-token",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    channel = Channel.objects.get(platform="twilio")
    assert (channel.webhook_secret, channel.credentials, channel.partner_id) == ("auth-token", {}, "")
