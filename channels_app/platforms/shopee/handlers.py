"""What Shopee push codes do (registered in channels_app.handlers)."""

from __future__ import annotations

from typing import Any

from channels_app.handlers import Outcome, ignored
from channels_app.models import ProcessedWebhookEvent
from channels_app.platforms.shopee import client, payloads
from orders.services import order_sync


def order_status_fetch(event: ProcessedWebhookEvent) -> dict[str, Any]:
    """A push only says the order changed: read its current state (outside the transaction)."""
    return client.fetch_order_detail(event.channel, payloads.order_sn(event.payload))


def order_status_apply(event: ProcessedWebhookEvent, detail: dict[str, Any]) -> Outcome | None:
    result = order_sync(channel=event.channel, data=payloads.order(detail))
    return ignored("stale update: older than the stored order") if result.stale else None
