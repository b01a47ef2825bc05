"""What AfterShip tracking events do (registered in channels_app.handlers)."""

from __future__ import annotations

from typing import Any

from channels_app.handlers import Outcome
from channels_app.models import ProcessedWebhookEvent
from channels_app.platforms.parsing import text, timestamp
from channels_app.platforms.tracking import tracking_apply
from orders.tracking import TrackingUpdate


def tracking(payload: Any) -> TrackingUpdate | None:
    """The tracking in `msg`: its tag (Delivered, InTransit, ...) is the status."""
    msg = payload.get("msg") if isinstance(payload, dict) else None
    if not isinstance(msg, dict):
        return None
    return TrackingUpdate(
        tracking_number=text(msg.get("tracking_number")),
        carrier=text(msg.get("slug")),
        status=text(msg.get("tag")),
        status_detail=text(msg.get("subtag_message") or msg.get("subtag")),
        estimated_delivery=timestamp(
            msg.get("expected_delivery") or msg.get("courier_estimated_delivery_date")
        ),
        updated_at=timestamp(msg.get("updated_at")),
        order_ref=text(msg.get("order_id") or msg.get("order_number")),
    )


def tracking_apply_event(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    return tracking_apply(event, tracking(event.payload))
