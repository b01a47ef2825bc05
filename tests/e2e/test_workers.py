"""Worker processes outlive what would stop them: Redis going away (idle or mid-job), and a crash
under `make run` (config.supervise starts them again)."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from rq.worker import Worker

from bench.environment import descendants
from channels_app.models import EventStatus, ProcessedWebhookEvent
from config.embedded import EmbeddedValkey
from config.queues import get_queue
from tests.channels_app import factories
from tests.e2e.conftest import BASE_DIR, running, wait_for, worker_blocked_mid_job

pytestmark = pytest.mark.e2e


def uninstall_event(n: int = 1) -> ProcessedWebhookEvent:
    channel = factories.shopify_channel()
    return ProcessedWebhookEvent.objects.create(
        source="shopify", channel=channel, topic="app/uninstalled", event_key=f"u{n}", payload={}
    )


def enqueue(redis: Redis, event: ProcessedWebhookEvent) -> None:
    Queue("webhooks", connection=redis, serializer=JSONSerializer).enqueue(
        "channels_app.jobs.process_webhook_event", event.pk, job_id=event.job_id
    )


def status(event: ProcessedWebhookEvent) -> str:
    return ProcessedWebhookEvent.objects.values_list("status", flat=True).get(pk=event.pk)


def test_a_worker_waits_for_redis_to_come_back_idle_or_mid_job(processes, tmp_path):
    valkey = EmbeddedValkey(tmp_path / "valkey", persist=True)  # append-only, as in compose
    valkey.start()
    try:
        redis = Redis.from_url(valkey.url)
        worker = processes.worker("webhooks", name="patient", REDIS_URL=valkey.url)
        wait_for(lambda: Worker.all(connection=redis))

        valkey.stop()  # while it waits for a job
        time.sleep(3)
        assert worker.poll() is None
        valkey.start()
        first = uninstall_event(1)
        enqueue(redis, first)
        wait_for(lambda: status(first) == EventStatus.COMPLETED, timeout=60)

        second = uninstall_event(2)
        with worker_blocked_mid_job():
            enqueue(redis, second)
            wait_for(lambda: job_started_on(redis, second.job_id))
            valkey.stop()  # while its job runs: rq's bookkeeping of the job will fail
        time.sleep(2)
        valkey.start()
        wait_for(lambda: status(second) == EventStatus.COMPLETED, timeout=60)

        third = uninstall_event(3)
        enqueue(redis, third)
        wait_for(lambda: status(third) == EventStatus.COMPLETED, timeout=60)
        assert worker.poll() is None  # the same worker, all along
    finally:
        valkey.stop()
    log = processes.log("patient")
    assert "found an unhandled exception" not in log and "quitting" not in log
    assert "Redis is back" in log


def job_started_on(redis: Redis, job_id: str) -> bool:
    from rq.job import Job

    try:
        return Job.fetch(job_id, connection=redis).get_status() == "started"
    except Exception:
        return False


def test_a_crashed_worker_is_started_again_and_stops_when_told(processes):
    supervisor = processes.start(
        "supervised",
        [sys.executable, "-m", "config.supervise", sys.executable, "manage.py", "rqworker", "webhooks"],
    )
    queue = get_queue("webhooks")
    (first,) = wait_for(lambda: live_worker_pids(queue))
    os.kill(first, signal.SIGKILL)  # the OOM killer
    (second,) = wait_for(lambda: live_worker_pids(queue) - {first})  # registered, listening
    assert second in descendants(supervisor.pid)
    event = uninstall_event()
    enqueue(queue.connection, event)
    try:
        wait_for(lambda: status(event) == EventStatus.COMPLETED, timeout=60)
    except AssertionError:  # say what Redis held, to tell a lost job from a stuck worker
        workers = [(w.name, w.pid, w.get_state(), w.get_current_job_id()) for w in Worker.all(queue=queue)]
        raise AssertionError(
            f"event {status(event)}; queue {queue.job_ids}; intermediate "
            f"{queue.connection.lrange(queue.intermediate_queue_key, 0, -1)}; workers {workers}"
        ) from None

    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0
    assert not running(second)
    assert "exited (killed by SIGKILL); starting it again" in processes.log("supervised")


def live_worker_pids(queue) -> set[int]:
    """Workers registered on the queue whose process runs (a killed one stays registered a while)."""
    return {w.pid for w in Worker.all(queue=queue) if w.pid and running(w.pid)}


def test_make_runs_procfile_supervises_every_worker():
    lines = (BASE_DIR / "Procfile").read_text().splitlines()
    for line in lines:
        name, _, command = line.partition(":")
        if name.startswith(("worker", "scheduler")):
            assert command.strip().startswith("python -m config.supervise "), line
