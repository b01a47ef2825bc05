"""Periodic jobs enqueued by `manage.py run_scheduler` (the Procfile's scheduler process)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Periodic:
    name: str  # Also the job id's prefix, so letters, digits, - and _ only (rq's rule for ids).
    func: str
    queue: str
    every: int  # seconds


SCHEDULE = (
    Periodic("sweep-events", "channels_app.jobs.sweep_events", "housekeeping", every=60),
    Periodic("purge-events", "channels_app.jobs.purge_events", "housekeeping", every=3600),
    Periodic("sweep-fulfillments", "orders.jobs.sweep_fulfillments", "housekeeping", every=60),
    # A safety net: stock changes whose window's flush job was lost are pushed within 30 s.
    Periodic("push-stock", "inventory.jobs.push_stock", "stock-push", every=30),
    Periodic("reconcile-channels", "channels_app.jobs.reconcile_channels", "housekeeping", every=60),
    Periodic("check-subscriptions", "channels_app.jobs.check_subscriptions", "housekeeping", every=900),
    # Each supplier at its own interval (Supplier.sync_interval_minutes); lost catalog jobs healed.
    Periodic("sync-suppliers", "catalog_sync.jobs.sync_suppliers", "housekeeping", every=60),
    Periodic("sweep-catalog", "catalog_sync.jobs.sweep_catalog", "housekeeping", every=60),
    Periodic("sweep-messages", "messaging.jobs.sweep_messages", "housekeeping", every=60),
    Periodic("messaging-housekeeping", "messaging.jobs.housekeeping", "housekeeping", every=3600),
)
