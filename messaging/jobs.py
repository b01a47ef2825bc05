"""The messaging RQ jobs: thin entry points taking plain values."""

from __future__ import annotations

from messaging.campaigns import campaign_fan_out, campaigns_sweep
from messaging.checkouts import checkouts_due
from messaging.delivery import messages_deliver
from messaging.events import event_evaluate, event_forward, events_sweep
from messaging.housekeeping import failures_retry, messages_purge, reports_roll_up
from messaging.queueing import messages_sweep


def deliver_messages(message_ids: list[int], attempt: int = 0) -> dict[str, int]:
    """messaging-delivery: apply the rules to a batch of messages and send those that may go."""
    return messages_deliver(message_ids, attempt)


def deliver_message(message_id: int) -> dict[str, int]:
    """messaging-delivery: one message, as jobs enqueued before delivery went by batches name it
    (kept for those still waiting in Redis, quiet-hours deferrals and delays among them)."""
    return messages_deliver([message_id])


def fan_out_campaign(campaign_id: int) -> dict[str, int]:
    """messaging-campaigns: materialize a campaign's audience and enqueue its deliveries."""
    return campaign_fan_out(campaign_id)


def sweep_messages() -> dict[str, int]:
    """housekeeping: campaigns, deliveries and commerce events whose job was lost (or never
    made, Redis down), enqueued again; checkouts abandoned by now handed to the automations."""
    return messages_sweep() | {
        "campaigns_requeued": campaigns_sweep(),
        "events_resent": events_sweep(),
        "checkouts_abandoned": checkouts_due(),
    }


def normalize_event(kind: str, order_id: int, fulfillment_id: int | None = None) -> str:
    """messaging-events: the commerce event with its contact, handed to the automations."""
    return event_forward(kind, order_id, fulfillment_id).value


def evaluate_event(event: dict) -> int:  # type: ignore[type-arg]
    """messaging-automations: one message per matching automation."""
    return event_evaluate(event)


def housekeeping() -> dict[str, int]:
    """housekeeping (hourly): old messages deleted, transient failures retried, reports rolled up."""
    return {"purged": messages_purge(), "retried": failures_retry(), "reports": reports_roll_up()}
