"""Carrier tracking webhooks (EasyPost, AfterShip) into orders.tracking, for their handlers."""

from __future__ import annotations

from channels_app.models import ProcessedWebhookEvent
from channels_app.outcomes import Outcome, ignored
from orders.tracking import TrackingApplied, TrackingUpdate, tracking_update


def tracking_apply(event: ProcessedWebhookEvent, update: TrackingUpdate | None) -> Outcome | None:
    if update is None:
        return ignored("not a shipment tracking update")
    result = tracking_update(organization_id=event.channel.organization_id, update=update)
    if result is TrackingApplied.STALE:
        return ignored("stale tracking update: older than the one recorded")
    if result is TrackingApplied.UNKNOWN:
        return ignored(f"no fulfillment or order for tracking number {update.tracking_number}")
    return None
