"""Jobs of inventory. Their import paths and arguments are a public API: failed jobs are retried
from the admin days after they were enqueued."""

from __future__ import annotations

from inventory.stock_push import push_stock_due


def push_stock() -> dict[str, int]:
    """Push the pending stock changes of one window (inventory.stock_push)."""
    return push_stock_due()
