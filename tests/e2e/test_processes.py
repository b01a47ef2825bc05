"""End to end over HTTP with real processes, and the faults that must lose nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection
from rq.worker import Worker

from bench.environment import descendants
from channels_app.models import Channel, EventStatus, ProcessedWebhookEvent
from channels_app.platforms.shopify import webhooks as shopify
from channels_app.platforms.woocommerce import webhooks as woocommerce
from channels_app.sweeper import events_sweep
from config.queues import get_queue
from tests.channels_app import factories
from tests.e2e.conftest import (
    BASE_DIR,
    job_started,
    post,
    post_uninstall,
    running,
    wait_for,
    worker_blocked_mid_job,
)
from tests.platforms import (
    fixture_bytes,
    fixture_json,
    shopee_authorization,
    shopify_headers,
    woocommerce_headers,
)

pytestmark = pytest.mark.e2e

FINAL = {EventStatus.COMPLETED, EventStatus.IGNORED, EventStatus.FAILED, EventStatus.NEEDS_MAPPING}
PAID = fixture_json("shopify/webhooks/orders_paid.json") | {
    "financial_status": "paid",
    "cancelled_at": None,
    "cancel_reason": None,
}

# Every recorded Shopify payload: the handled topics, and one the hub does not handle (kept, ignored).
SHOPIFY_POSTED = [*shopify.HANDLERS, "products/update"]


def statuses() -> dict[str, str]:
    return dict(ProcessedWebhookEvent.objects.values_list("topic", "status"))


def test_recorded_payloads_posted_over_http_all_reach_their_final_status(processes, httpserver):
    base = processes.web(WEBHOOK_BASE_URL="https://hub.example.com")
    processes.worker("webhooks")
    factories.shopify_channel()
    woo = factories.woocommerce_channel()
    factories.shopee_channel(api_base_url=httpserver.url_for(""), credentials={"access_token": "tok"})
    detail = fixture_json("shopee/api/get_order_detail.json")
    detail["response"]["order_list"][0]["order_sn"] = "220810QSK8S7BX"
    httpserver.expect_request("/api/v2/order/get_order_detail").respond_with_json(detail)

    answers = []
    # app/uninstalled last: it deactivates the channel, and later events would be ignored for that.
    for topic in sorted(SHOPIFY_POSTED, key=lambda t: t == "app/uninstalled"):
        body = fixture_bytes(f"shopify/webhooks/{topic.replace('/', '_')}.json")
        headers = shopify_headers(
            secret=factories.SHOPIFY_SECRET,
            body=body,
            shop=factories.SHOPIFY_SHOP,
            topic=topic,
            event_id=topic,
        )
        answers.append(post(f"{base}/webhooks/shopify/", body, headers))
    for topic in woocommerce.HANDLERS:
        body = fixture_bytes(f"woocommerce/webhooks/{topic.replace('.', '_')}.json")
        headers = woocommerce_headers(secret="woo-secret&1", body=body, topic=topic)
        answers.append(post(f"{base}/webhooks/woocommerce/{woo.pk}/", body, headers))
    push = fixture_bytes("shopee/push/order_status_push_code3.json")
    signature = shopee_authorization(
        partner_key=factories.SHOPEE_PARTNER_KEY,
        callback_url="https://hub.example.com/webhooks/shopee/",
        body=push,
    )
    answers.append(post(f"{base}/webhooks/shopee/", push, {"HTTP_AUTHORIZATION": signature}))

    assert [a.status_code for a in answers] == [200] * len(answers)
    expected = len(SHOPIFY_POSTED) + len(woocommerce.HANDLERS) + 1
    assert ProcessedWebhookEvent.objects.count() == expected
    wait_for(lambda: set(ProcessedWebhookEvent.objects.values_list("status", flat=True)) <= FINAL)
    assert statuses() == {
        "orders/create": EventStatus.COMPLETED,
        "orders/updated": EventStatus.COMPLETED,
        "orders/paid": EventStatus.COMPLETED,
        "orders/cancelled": EventStatus.COMPLETED,
        "fulfillments/create": EventStatus.COMPLETED,  # recorded on the order posted before it
        "checkouts/create": EventStatus.IGNORED,  # recorded; dated 2026-11-25: too old to remind of
        "checkouts/update": EventStatus.COMPLETED,  # the same checkout, completed
        "inventory_levels/update": EventStatus.NEEDS_MAPPING,  # its location is not mapped: not guessed
        "products/update": EventStatus.IGNORED,  # no handler yet
        "app/uninstalled": EventStatus.COMPLETED,
        "order.created": EventStatus.COMPLETED,
        "order.updated": EventStatus.COMPLETED,
        "order.deleted": EventStatus.COMPLETED,
        "order.restored": EventStatus.IGNORED,  # the recorded sample is older than order.updated's
        "product.updated": EventStatus.IGNORED,  # the recorded product's stock is not managed
        "order_status": EventStatus.COMPLETED,
    }
    assert not Channel.objects.get(platform="shopify").is_active
    # The request id of each webhook is in the log lines of the job it caused.
    event = ProcessedWebhookEvent.objects.get(topic="app/uninstalled")
    job_lines = [json.loads(line) for line in processes.log("worker").splitlines() if line.startswith("{")]
    assert any(
        line["request_id"] == event.request_id and line["logger"] == "channels_app.jobs" for line in job_lines
    )
    assert factories.SHOPIFY_SECRET not in processes.log("worker") + processes.log("web")


def test_a_worker_killed_mid_job_is_processed_exactly_once_afterwards(processes):
    base = processes.web()
    channel = factories.shopify_channel()
    assert post_uninstall(base).status_code == 200
    event = ProcessedWebhookEvent.objects.get()
    postgres = connection.vendor == "postgresql"
    with worker_blocked_mid_job():
        worker = processes.worker("webhooks", name="doomed")
        wait_for(lambda: job_started(event.job_id))
        if postgres:  # the worker claims the event, then waits for the channel row
            wait_for(lambda: ProcessedWebhookEvent.objects.filter(status=EventStatus.PROCESSING).exists())
        processes.kill(worker)  # the worker and its scheduler process, as when a container dies
        worker.wait()
    connection.close()
    # rq would notice the dead worker only at its next maintenance pass; the sweeper knows now.
    result = events_sweep(enqueued_after=0, processing_timeout=0)
    assert result.requeued == 1
    assert events_sweep(enqueued_after=0, processing_timeout=0).requeued == 0  # not twice
    processes.worker("webhooks", name="survivor", burst=True).wait(timeout=60)
    event.refresh_from_db()
    assert event.status == EventStatus.COMPLETED
    assert event.attempts == (2 if postgres else 1)  # SQLite's lock stops the worker before its claim
    channel.refresh_from_db()
    assert not channel.is_active
    assert get_queue("webhooks").failed_job_registry.count == 0
    assert get_queue("webhooks").count == 0


def test_a_worker_killed_alone_takes_its_scheduler_with_it_and_strands_nothing(processes):
    """The OOM killer kills one process, not its group. rq's scheduler, a child of the worker, used
    to live on holding the worker's connection, blocked in its pop: Redis then handed the next job
    to it, and the acknowledged event stayed ENQUEUED forever, in no queue."""
    base = processes.web()
    factories.shopify_channel()
    worker = processes.worker("webhooks", name="oom-killed")
    scheduler = wait_for(lambda: descendants(worker.pid))
    wait_for(lambda: any(w.get_state() == "idle" for w in Worker.all(queue=get_queue("webhooks"))))
    time.sleep(0.5)  # in its blocking pop
    os.kill(worker.pid, signal.SIGKILL)  # the worker alone
    worker.wait()
    wait_for(lambda: not any(running(pid) for pid in scheduler), timeout=10)

    assert post_uninstall(base).status_code == 200
    event = ProcessedWebhookEvent.objects.get()
    time.sleep(0.5)
    assert get_queue("webhooks").job_ids == [event.job_id]  # nobody took it into the void
    assert processes.worker("webhooks", name="survivor", burst=True).wait(timeout=60) == 0
    event.refresh_from_db()
    assert event.status == EventStatus.COMPLETED


def test_a_worker_killed_inside_a_paid_orders_transaction_leaves_no_trace_and_it_reserves_once(processes):
    from inventory.models import Reservation
    from tests.inventory.factories import assert_invariants, level, sku, warehouse

    base = processes.web()
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    items = [sku(channel.organization, line["sku"], on_hand=5, at=main) for line in PAID["line_items"]]
    body = json.dumps(PAID).encode()
    headers = shopify_headers(
        secret=factories.SHOPIFY_SECRET,
        body=body,
        shop=factories.SHOPIFY_SHOP,
        topic="orders/paid",
        event_id="p1",
    )
    assert post(f"{base}/webhooks/shopify/", body, headers).status_code == 200
    event = ProcessedWebhookEvent.objects.get()
    postgres = connection.vendor == "postgresql"
    with worker_blocked_mid_job("inventory_stocklevel"):
        worker = processes.worker("webhooks", name="doomed")
        wait_for(lambda: job_started(event.job_id))
        if postgres:  # claimed; the order is written; the worker waits for a stock level's lock
            wait_for(lambda: ProcessedWebhookEvent.objects.filter(status=EventStatus.PROCESSING).exists())
        processes.kill(worker)
        worker.wait()
    connection.close()
    from orders.models import Order

    assert not Reservation.objects.exists() and not Order.objects.exists()  # the killed attempt left nothing
    assert events_sweep(enqueued_after=0, processing_timeout=0).requeued == 1
    processes.worker("webhooks", name="survivor", burst=True).wait(timeout=60)
    event.refresh_from_db()
    assert event.status == EventStatus.COMPLETED
    assert Reservation.objects.count() == len(items)
    assert all(level(item, main).reserved == 1 for item in items)
    assert_invariants()


def test_sigterm_lets_the_current_job_finish(processes):
    base = processes.web()
    factories.shopify_channel()
    assert post_uninstall(base).status_code == 200
    event = ProcessedWebhookEvent.objects.get()
    with worker_blocked_mid_job():
        worker = processes.worker("webhooks", name="stopping")
        wait_for(lambda: job_started(event.job_id))
        worker.send_signal(signal.SIGTERM)
        time.sleep(1)
        assert worker.poll() is None  # still finishing its job
    assert worker.wait(timeout=30) == 0
    connection.close()
    event.refresh_from_db()
    assert event.status == EventStatus.COMPLETED


def test_an_unreachable_database_answers_503_so_the_platform_retries(processes):
    base = processes.web(DATABASE_URL="postgres://postgres@127.0.0.1:1/unreachable")
    factories.shopify_channel()
    response = post_uninstall(base)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert not ProcessedWebhookEvent.objects.exists()


def test_redis_unreachable_while_webhooks_arrive_loses_nothing(processes):
    base = processes.web(REDIS_URL="redis://127.0.0.1:1/0")
    factories.shopify_channel()
    answers = [post_uninstall(base, event_id=f"e{i}") for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert ProcessedWebhookEvent.objects.filter(status=EventStatus.ENQUEUED).count() == 3
    # Redis is back (the real one): the sweeper command, as the scheduler runs it, enqueues them.
    out = subprocess.run(
        [sys.executable, "manage.py", "sweep_events", "--enqueued-after", "0"],
        cwd=BASE_DIR,
        env=processes.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out.splitlines()[-1])["requeued"] == 3
    processes.worker("webhooks", burst=True).wait(timeout=60)
    assert set(ProcessedWebhookEvent.objects.values_list("status", flat=True)) <= FINAL
    assert ProcessedWebhookEvent.objects.filter(status=EventStatus.COMPLETED).count() >= 1


def test_the_scheduler_enqueues_the_sweeper(processes):
    env = processes.env()
    subprocess.run(
        [sys.executable, "manage.py", "run_scheduler", "--once"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=60,
    )
    queue = get_queue("housekeeping")
    assert any(job_id.startswith("sweep-events-") for job_id in queue.job_ids)


def test_a_job_still_running_past_the_shutdown_grace_period_is_requeued(processes):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite waits for its lock inside C, where no signal interrupts it")
    base = processes.web()
    factories.shopify_channel()
    assert post_uninstall(base).status_code == 200
    event = ProcessedWebhookEvent.objects.get()
    with worker_blocked_mid_job():
        worker = processes.worker("webhooks", name="impatient", HUB_WORKER_SHUTDOWN_GRACE="1")
        wait_for(lambda: ProcessedWebhookEvent.objects.filter(status=EventStatus.PROCESSING).exists())
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    connection.close()
    event.refresh_from_db()
    assert event.status == EventStatus.ENQUEUED
    assert "ShutdownTimeout" in event.error_message
    # Put back as a retry (2 s backoff): the next worker runs it.
    processes.worker("webhooks", name="next")
    wait_for(lambda: ProcessedWebhookEvent.objects.filter(status=EventStatus.COMPLETED).exists(), timeout=30)
    event.refresh_from_db()
    assert event.attempts == 2


def test_a_redis_that_accepts_but_never_answers_does_not_hold_webhooks_past_shopifys_timeout(processes):
    import socket as sockets

    blackhole = sockets.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)  # connections complete in the kernel's backlog; nothing ever answers
    try:
        base = processes.web(workers=1, REDIS_URL=f"redis://127.0.0.1:{blackhole.getsockname()[1]}/0")
        factories.shopify_channel()
        started = time.monotonic()
        answers = [post_uninstall(base, event_id=f"b{i}") for i in range(5)]
        elapsed = time.monotonic() - started
    finally:
        blackhole.close()
    assert [a.status_code for a in answers] == [200] * 5
    # One request pays Redis' timeouts (2 s); the next ones skip Redis while it is down.
    assert elapsed < 4.5, elapsed
    assert ProcessedWebhookEvent.objects.filter(status=EventStatus.ENQUEUED).count() == 5


def test_a_worker_survives_the_database_dropping_its_connection(processes):
    if connection.vendor != "postgresql":
        pytest.skip("terminating a backend is a PostgreSQL operation")
    base = processes.web()
    factories.shopify_channel()
    processes.worker("webhooks", name="steady")
    assert post_uninstall(base, event_id="before").status_code == 200
    wait_for(lambda: ProcessedWebhookEvent.objects.filter(status=EventStatus.COMPLETED).exists())
    with connection.cursor() as cursor:  # what a database restart or failover does to a worker
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert post_uninstall(base, event_id="after").status_code == 200  # CONN_HEALTH_CHECKS reconnect
    wait_for(lambda: ProcessedWebhookEvent.objects.filter(status__in=FINAL).count() == 2)
    assert ProcessedWebhookEvent.objects.get(event_key__endswith="after").status == EventStatus.IGNORED
