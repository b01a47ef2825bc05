"""No secret is rendered to anyone, ops included: pages say which are set and when they changed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from channels_app.models import Channel
from messaging.models import MessagingSettings
from tests.channels_app import factories

pytestmark = pytest.mark.django_db

SECRETS = ("whsec-SENTINEL-1", "old-SENTINEL-2", "shpat-SENTINEL-3", "twilio-SENTINEL-4")


@pytest.fixture
def stored():
    channel = factories.shopify_channel(webhook_secret=SECRETS[1], access_token=SECRETS[2])
    channel = factories.shopify_channel(webhook_secret=SECRETS[0])  # rotated: the old one kept
    settings = MessagingSettings.objects.create(
        organization=channel.organization, twilio_account_sid="AC1", twilio_auth_token=SECRETS[3]
    )
    return channel, settings


def viewer(*codenames: str) -> User:
    """Ops as they are set up: the ops permission and view permission on the hub's models."""
    user = User.objects.create_user("ops-viewer", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="django_rq", codename="admin"),
        *Permission.objects.filter(codename__in=codenames),
    )
    return user


def pages(channel: Channel, settings: MessagingSettings) -> list[str]:
    return [
        reverse("admin:channels_app_channel_change", args=[channel.pk]),
        reverse("admin:channels_app_channel_changelist"),
        reverse("admin:messaging_messagingsettings_change", args=[settings.pk]),
        reverse("admin:messaging_messagingsettings_changelist"),
    ]


@pytest.mark.parametrize("who", ["view only", "superuser"])
def test_no_page_renders_a_secret(client, stored, who):
    channel, settings = stored
    if who == "superuser":
        user = User.objects.create_superuser("root", password="pw")
    else:
        user = viewer("view_channel", "view_messagingsettings")
    client.force_login(user)
    for url in pages(channel, settings):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert not any(secret in html for secret in SECRETS), url
    channel_page = client.get(pages(channel, settings)[0]).content.decode()
    assert "Webhook secret: set, Previous webhook secret: set, Access token: set" in channel_page
    assert "last changed" in channel_page
    settings_page = client.get(pages(channel, settings)[2]).content.decode()
    assert "Twilio auth token: set" in settings_page


def test_a_secret_written_in_the_form_is_stored_and_its_change_dated(client, stored):
    channel, _ = stored
    Channel.objects.filter(pk=channel.pk).update(secrets_changed_at=None)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    url = reverse("admin:channels_app_channel_change", args=[channel.pk])
    form = {
        "organization": channel.organization_id,
        "name": channel.name,
        "platform": "shopify",
        "shop_identifier": channel.shop_identifier,
        "is_active": "on",
        "locations-TOTAL_FORMS": "0",
        "locations-INITIAL_FORMS": "0",
        "subscriptions-TOTAL_FORMS": "0",
        "subscriptions-INITIAL_FORMS": "0",
    }
    assert client.post(url, form).status_code == 302  # blank secrets: kept, nothing changed
    channel.refresh_from_db()
    assert (channel.webhook_secret, channel.secrets_changed_at) == (SECRETS[0], None)
    assert client.post(url, {**form, "webhook_secret": "whsec-new"}).status_code == 302
    channel.refresh_from_db()
    assert channel.webhook_secret == "whsec-new" and channel.secrets_changed_at is not None
