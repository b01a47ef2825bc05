"""The messaging RQ jobs: thin entry points taking plain values."""

from __future__ import annotations

from messaging.campaigns import campaign_fan_out
from messaging.delivery import message_deliver, messages_sweep


def deliver_message(message_id: int) -> str:
    """messaging-delivery: apply the rules to one message and send it."""
    return message_deliver(message_id)


def fan_out_campaign(campaign_id: int) -> dict[str, int]:
    """messaging-campaigns: materialize a campaign's audience and enqueue its deliveries."""
    return campaign_fan_out(campaign_id)


def sweep_messages() -> dict[str, int]:
    """housekeeping: deliveries whose job was lost, enqueued again."""
    return messages_sweep()
