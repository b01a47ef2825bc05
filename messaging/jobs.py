"""The messaging RQ jobs: thin entry points taking plain values."""

from __future__ import annotations

from messaging.delivery import message_deliver


def deliver_message(message_id: int) -> str:
    """messaging-delivery: apply the rules to one message and send it."""
    return message_deliver(message_id)
