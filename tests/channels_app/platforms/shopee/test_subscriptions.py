"""Shopee webhook registration: Shopee has no API for it, so the hub says what to enter in its
console."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from channels_app.models import SubscriptionState, WebhookSubscription
from tests.channels_app import factories

pytestmark = pytest.mark.django_db


def test_shopee_registration_says_what_to_enter_in_the_console(capsys):
    channel = factories.shopee_channel()
    call_command("register_webhooks", str(channel.pk))
    out = capsys.readouterr().out
    assert f"set the live callback URL to {channel.webhook_url}" in out
    assert set(WebhookSubscription.objects.values_list("state", flat=True)) == {SubscriptionState.CONSOLE}
