"""Drain: webhook events processed per second by one worker process and by N, beside rq's no-op jobs.

Both run the same command (`manage.py rqworker webhooks --burst`, so the hub's worker class) on the
same Redis in the same run, first as one process, then as N at once (the machine's cores by
default): the figure to set beside BullMQ's one Node process, and what more processes add. The
events' topic, customers/create, has no handler: each job claims the event, dispatches it, and
finishes it IGNORED, the shortest real path through process_webhook_event.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench.environment import BenchEnv, flush_redis, stop
from bench.ingest import PAYLOAD, SHOP, create_channel

# A topic with no handler: each job claims the event, finds no handler, and ends it IGNORED.
TOPIC = "customers/create"
WORKER_ARGS = [sys.executable, "manage.py", "rqworker", "webhooks", "--burst"]


@dataclass(frozen=True)
class Drain:
    name: str
    jobs: int
    seconds: float  # wall time of the worker processes, start to the last one's exit
    startup: float  # the same for an empty queue, subtracted from `seconds`
    processes: int = 1

    @property
    def measurable(self) -> bool:
        """Whether the drain outlasted the workers' startup: a shorter one is mostly the noise of
        that subtraction (a batched drain of a few thousand events can take less)."""
        return self.seconds - self.startup >= self.startup

    @property
    def rate(self) -> float:
        return self.jobs / (self.seconds - self.startup)


def time_worker(env: BenchEnv, processes: int = 1) -> float:
    """Wall time of `processes` burst workers started at once, until the last exits (each exits
    once the queue is empty)."""
    started = time.perf_counter()
    workers = [env.start(f"worker-{i}", WORKER_ARGS) for i in range(processes)]
    try:
        returncodes = [worker.wait() for worker in workers]
        seconds = time.perf_counter() - started
    finally:
        for worker in workers:
            stop(worker)  # nothing to do once it exited; on Ctrl-C it would not get the signal (own session)
    if any(returncodes):
        raise RuntimeError(f"a worker exited with {max(returncodes)}; see var/bench-logs/worker-*.log")
    return seconds


def worker_description() -> str:
    """What actually runs the jobs: the configured class, asked how it runs `webhooks` jobs."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from channels_app.drain import threads
    from config.queues import get_queue

    queue = get_queue("webhooks")
    worker = import_string(settings.RQ["WORKER_CLASS"])([queue], connection=queue.connection)
    how = "in-process (SimpleWorker behaviour)" if worker.in_process else "in a forked child (Worker)"
    return f"{settings.RQ['WORKER_CLASS']}, runs webhooks jobs {how}, a batch on {threads()} thread(s)"


def create_events(count: int) -> list[int]:
    from channels_app.models import EventStatus, ProcessedWebhookEvent

    waiting = ProcessedWebhookEvent.objects.filter(status__in=(EventStatus.ENQUEUED, EventStatus.PROCESSING))
    if waiting.exists():
        # The workers would take them as batch-mates of these events and time them too.
        raise RuntimeError(f"{waiting.count()} events of an earlier benchmark wait to be processed")
    payload = json.loads(PAYLOAD.read_bytes())
    run = uuid.uuid4().hex[:8]  # event keys unique even if the same database is drained twice
    return store_events(TOPIC, {f"drain-{run}-{i}": payload for i in range(count)})


def store_events(topic: str, payloads: dict[str, Any]) -> list[int]:
    """Events of the bench shop as the intake stores them (ENQUEUED), one per delivery id and its
    payload; their ids, in order."""
    from channels_app.models import Channel, EventStatus, Platform, ProcessedWebhookEvent

    channel = Channel.objects.get(platform=Platform.SHOPIFY, shop_identifier=SHOP)
    events = [
        ProcessedWebhookEvent(
            source=Platform.SHOPIFY,
            channel=channel,
            topic=topic,
            event_key=f"{topic}:event:{delivery}",
            delivery_id=delivery,
            headers={"Topic": topic, "Shop-Domain": SHOP},
            payload=payload,
            status=EventStatus.ENQUEUED,
            request_id=uuid.uuid4().hex,
        )
        for delivery, payload in payloads.items()
    ]
    ProcessedWebhookEvent.objects.bulk_create(events, batch_size=500)
    return list(
        ProcessedWebhookEvent.objects.filter(delivery_id__in=list(payloads))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def enqueue_events(event_ids: list[int]) -> None:
    from channels_app.intake import event_enqueue
    from channels_app.models import ProcessedWebhookEvent

    request_ids = dict(ProcessedWebhookEvent.objects.filter(pk__in=event_ids).values_list("pk", "request_id"))
    failed = [pk for pk in event_ids if not event_enqueue(pk, request_ids[pk])]
    if failed:
        raise RuntimeError(f"{len(failed)} events could not be enqueued (Redis unreachable?)")


def enqueue_noops(count: int) -> None:
    from config.queues import enqueue

    for i in range(count):
        enqueue("webhooks", "bench.jobs.noop", i, job_id=f"noop-{i}")


def queued() -> int:
    from config.queues import get_queue

    return get_queue("webhooks").count


def jobs_finished() -> tuple[int, int]:
    """(finished, failed) webhooks jobs, from the counters the hub's worker keeps in Redis."""
    from config.queues import get_queue
    from config.throughput import JOB_COUNT_KEY

    counts = get_queue("webhooks").connection.hgetall(JOB_COUNT_KEY)
    return int(counts.get(b"webhooks:finished", 0)), int(counts.get(b"webhooks:failed", 0))


def check_events(event_ids: list[int]) -> bool:
    from django.db.models import Count

    from channels_app.models import EventStatus, ProcessedWebhookEvent

    rows = ProcessedWebhookEvent.objects.filter(pk__in=event_ids).values("status").annotate(n=Count("pk"))
    by_status = {row["status"]: row["n"] for row in rows}
    final = sum(by_status.get(s, 0) for s in (EventStatus.COMPLETED, EventStatus.IGNORED, EventStatus.FAILED))
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(by_status.items()))
    ok = final == len(event_ids)
    verdict = "OK" if ok else "NOT ALL"
    print(f"  check: {final}/{len(event_ids)} events reached a final status ({statuses}): {verdict}")
    return ok


def check_jobs(name: str, expected: int, *, drained: bool = False) -> bool:
    """Every job finished, none failed, none left. Webhook jobs are `drained`: one runs the events
    queued behind its own and takes their jobs off the queue, so fewer jobs than events finish."""
    finished, failed = jobs_finished()
    left = queued()
    count_ok = 0 < finished <= expected if drained else finished == expected
    ok = count_ok and failed == 0 and left == 0
    print(
        f"  check: {name}: {finished} jobs finished, {failed} failed, {left} left queued: "
        f"{'OK' if ok else 'MISMATCH'}"
    )
    return ok


def measure_startup(env: BenchEnv, runs: int, processes: int) -> float:
    times = [time_worker(env, processes) for _ in range(runs)]
    startup = statistics.median(times)
    shown = ", ".join(f"{t:.2f}" for t in times)
    print(
        f"  worker startup ({processes} burst worker(s) over an empty queue, median of {runs}): "
        f"{startup:.2f} s [{shown}]"
    )
    return startup


def print_figures(pairs: list[tuple[Drain, Drain]]) -> None:
    for events, noops in pairs:
        for d in (events, noops):
            print(
                f"  {d.processes} process(es), {d.name:<15} {d.jobs} in {d.seconds:.2f} s wall, "
                f"{d.seconds - d.startup:.2f} s after startup: {d.rate:8.1f}/s"
            )
    print(f"  {'worker processes':<17} {'events/s':>9} {'no-op jobs/s':>13} {'events/no-op':>13}")
    for events, noops in pairs:
        ratio = f"{events.rate / noops.rate:.2f}x"
        if not (events.measurable and noops.measurable):
            ratio += "  (drain shorter than startup: not measured, raise --drain-events)"
        print(f"  {events.processes:<17} {events.rate:9.1f} {noops.rate:13.1f} {ratio:>13}")
    print("  (startup subtracted from both; BullMQ's figure is one Node process's no-op jobs/s)")


def drain_with(env: BenchEnv, *, events: int, startup_runs: int, processes: int) -> tuple[Drain, Drain, bool]:
    """Events, then as many no-op jobs, drained by `processes` burst workers at once."""
    flush_redis()
    startup = measure_startup(env, startup_runs, processes)

    event_ids = create_events(events)
    enqueue_events(event_ids)
    event_drain = Drain("webhook events", events, time_worker(env, processes), startup, processes)
    ok = all([check_events(event_ids), check_jobs("events", events, drained=True)])  # print both

    flush_redis()
    enqueue_noops(events)
    noop_drain = Drain("no-op jobs", events, time_worker(env, processes), startup, processes)
    ok = check_jobs("no-ops", events) and ok
    flush_redis()
    return event_drain, noop_drain, ok


def run(env: BenchEnv, *, events: int, startup_runs: int, processes: int) -> bool:
    counts = sorted({1, processes})
    print(
        f"Drain: {events} events, then {events} no-op jobs, by burst workers on the webhooks queue: "
        f"{' and '.join(str(n) for n in counts)} process(es) at once"
    )
    print(f"  worker: {worker_description()}")
    create_channel(env)
    pairs, ok = [], True
    for n in counts:
        event_drain, noop_drain, passed = drain_with(
            env, events=events, startup_runs=startup_runs, processes=n
        )
        pairs.append((event_drain, noop_drain))
        ok = passed and ok
    print_figures(pairs)
    return ok
