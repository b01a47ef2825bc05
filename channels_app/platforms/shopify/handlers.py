"""What Shopify webhook topics do (registered in channels_app.handlers)."""

from __future__ import annotations

from channels_app.handlers import Outcome, ignored
from channels_app.models import ProcessedWebhookEvent
from channels_app.platforms.shopify import payloads
from orders.services import order_sync


def order_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """orders/create, updated, paid, cancelled: the payload is the whole order."""
    result = order_sync(channel=event.channel, data=payloads.order(event.payload))
    return ignored("stale update: older than the stored order") if result.stale else None
