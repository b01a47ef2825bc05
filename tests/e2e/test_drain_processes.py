"""A worker killed in the middle of a batch: every event of the batch ends processed exactly once."""

from __future__ import annotations

import copy

import pytest
from django.db import connection

from channels_app.intake import event_enqueue
from channels_app.models import EventStatus, ProcessedWebhookEvent
from channels_app.sweeper import events_sweep
from config.queues import get_queue
from inventory.models import Reservation
from orders.models import Order
from tests.channels_app import factories
from tests.e2e.conftest import wait_for
from tests.inventory.factories import assert_invariants, level, sku, warehouse
from tests.platforms import fixture_json

pytestmark = pytest.mark.e2e

PAID = fixture_json("shopify/webhooks/orders_paid.json") | {
    "financial_status": "paid",
    "cancelled_at": None,
    "cancel_reason": None,
}
EVENTS = 50  # one batch: the first job's event and 49 mates


def paid_order(n: int) -> dict:
    order_id = 8_000_000_000 + n
    order = copy.deepcopy(PAID) | {"id": order_id, "name": f"#K{n}", "order_number": order_id}
    order["line_items"] = [line | {"id": order_id * 10 + i} for i, line in enumerate(order["line_items"])]
    return order


def store_paid_orders(channel, count: int) -> list[ProcessedWebhookEvent]:
    events = []
    for n in range(count):
        event = ProcessedWebhookEvent.objects.create(
            source=channel.platform,
            channel=channel,
            topic="orders/paid",
            event_key=f"orders/paid:kill-{n}",
            payload=paid_order(n),
            request_id=f"req-kill-{n}",
        )
        assert event_enqueue(event.pk, event.request_id)
        events.append(event)
    return events


def by_status() -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for pk, status in ProcessedWebhookEvent.objects.values_list("pk", "status"):
        found.setdefault(status, set()).add(pk)
    return found


def test_a_worker_killed_mid_batch_leaves_every_event_processed_exactly_once(processes):
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    items = [sku(channel.organization, line["sku"], on_hand=1000, at=main) for line in PAID["line_items"]]
    events = store_paid_orders(channel, EVENTS)
    queue = get_queue("webhooks")

    worker = processes.worker("webhooks", name="doomed")

    def mid_batch() -> bool:
        seen = by_status()
        return (
            len(seen.get(EventStatus.COMPLETED, ())) >= 1 and len(seen.get(EventStatus.PROCESSING, ())) >= 2
        )

    wait_for(mid_batch, timeout=60, interval=0.005)
    processes.kill(worker)  # the worker and its scheduler, as when its container dies
    worker.wait()
    connection.close()

    at_kill = by_status()
    done_before = at_kill.get(EventStatus.COMPLETED, set())
    held = at_kill.get(EventStatus.PROCESSING, set())
    assert done_before and held, at_kill  # killed mid-batch: some finished, some claimed and not
    withdrawn = {event.job_id for event in events if event.pk in held} - set(queue.job_ids)
    assert withdrawn  # the batch had taken their jobs off the queue: only the sweeper brings them back
    processed_at = dict(
        ProcessedWebhookEvent.objects.filter(pk__in=done_before).values_list("pk", "processed_at")
    )

    # rq would notice the dead worker at its next maintenance pass; the sweeper does now.
    assert events_sweep(enqueued_after=0, processing_timeout=0).requeued >= len(withdrawn)
    assert events_sweep(enqueued_after=0, processing_timeout=0).requeued == 0  # not twice
    assert processes.worker("webhooks", name="survivor", burst=True).wait(timeout=120) == 0

    assert by_status() == {EventStatus.COMPLETED: {event.pk for event in events}}
    finished = ProcessedWebhookEvent.objects.filter(pk__in=done_before)
    # What the killed worker had finished did not run again; what it held ran once more, once.
    assert dict(finished.values_list("pk", "processed_at")) == processed_at
    assert set(finished.values_list("attempts", flat=True)) == {1}
    assert set(ProcessedWebhookEvent.objects.filter(pk__in=held).values_list("attempts", flat=True)) == {2}
    # Each order once, each of its lines reserved once: no effect doubled, none lost.
    assert Order.objects.count() == EVENTS
    lines = len(PAID["line_items"])
    assert Reservation.objects.count() == EVENTS * lines
    assert Reservation.objects.values("reference").distinct().count() == EVENTS * lines
    assert all(level(item, main).reserved == EVENTS for item in items)
    assert_invariants()
    assert queue.failed_job_registry.count == 0
    assert queue.count == 0
