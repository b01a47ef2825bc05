"""Helpers the channel tests share: a sync run started and worked through on burst workers,
Shopify's delivery of an order to the shop of factories.shopify_channel(), and a test's own
handler registered for a Shopify topic."""

from __future__ import annotations

import pytest

from channels_app import handlers
from channels_app.sync import sync_start
from tests import platforms
from tests.channels_app import factories
from tests.platforms import fixture_bytes

ORDER = fixture_bytes("shopify/webhooks/orders_create.json")


def run_sync(run_worker, django_capture_on_commit_callbacks, **start):
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_start(**start)
    with django_capture_on_commit_callbacks(execute=True):  # the events it records, enqueued
        run_worker("channel-sync")
    run_worker("webhooks")
    run.refresh_from_db()
    return run


def post_shopify(
    client, body=ORDER, topic="orders/create", event_id="ev-1", path="/webhooks/shopify/", **extra
):
    """Shopify's delivery to the shop of factories.shopify_channel(), signed with its first secret
    (whatever secret the channel has now: the rotation test signs with the previous one)."""
    return platforms.post_shopify(
        client,
        None,
        topic,
        body,
        event_id=event_id,
        secret=factories.SHOPIFY_SECRET,
        shop=factories.SHOPIFY_SHOP,
        path=path,
        **extra,
    )


@pytest.fixture
def topic_handler(monkeypatch):
    """`register(func, topic)`: the test module's `func` handles that Shopify topic for this test."""

    def register(func, topic="test/topic"):
        monkeypatch.setitem(
            handlers.HANDLERS,
            ("shopify", topic),
            handlers.Handler(apply=f"{func.__module__}.{func.__name__}"),
        )
        handlers.handler_for.cache_clear()

    yield register
    handlers.handler_for.cache_clear()
