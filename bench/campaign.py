"""Campaign: an SMS campaign fanned out to 100,000 contacts, beside rq no-op jobs for as many.

The hub's workers run as production starts them (config.queues): 1 `rqworker messaging-campaigns`
(its jobs in a forked child) and 2 `rqworker messaging-delivery messaging-bulk`, started once for
both runs, with the local backend (SMS_BACKEND=local: each send is an outbox row). In the same run:
- campaign: `campaign_send` (committed) until every contact's message is recorded in the outbox:
  the audience materialized a thousand contacts at a time, deliveries enqueued in bulk (one job per
  hundred messages), each message checked (consent under the contact's lock, quiet hours, the
  frequency cap), rendered and recorded;
- peak memory: the largest resident set of any process of the campaign worker (the worker and the
  child running the fan-out), read from /proc every 20 ms during the campaign, beside the same
  worker's idle size before it: the fan-out must not hold the audience;
- baseline: as many rq no-op jobs as contacts, enqueued in bulk (enqueue_many in pipelines of a
  thousand) onto messaging-bulk and run by the same two workers: rq's own cost of one job per
  message, which batching the deliveries should beat.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.catalog import Workers, check_alive, stop_workers
from bench.environment import BenchEnv, descendants, flush_redis

ORGANIZATION = "bench-sms"
WORKERS = {"campaigns": ["messaging-campaigns"], "delivery-0": ["messaging-delivery", "messaging-bulk"]}
WORKERS["delivery-1"] = WORKERS["delivery-0"]
POLL_SECONDS = 0.25
STALL_SECONDS = 120.0


@dataclass
class Timed:
    name: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def rss(pid: int) -> int:
    """A process's resident set in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakMemory:
    """The largest resident sets of a worker and of its children (the forked child running the
    job, rq's scheduler), sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.worker = 0
        self.children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.worker = max(self.worker, rss(self.pid))
            for pid in descendants(self.pid):
                self.children = max(self.children, rss(pid))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def create_audience(contacts: int) -> int:
    """The organization, no quiet hours (the benchmark runs at any hour), and its opted-in contacts."""
    from datetime import time as clock

    from channels_app.models import Organization
    from messaging.models import ConsentState, Contact, MessagingSettings

    organization = Organization.objects.create(name="Bench SMS", slug=ORGANIZATION)
    MessagingSettings.objects.create(organization=organization, quiet_start=clock(0), quiet_end=clock(0))
    for start in range(0, contacts, 5000):
        Contact.objects.bulk_create(
            Contact(
                organization=organization,
                phone=f"+1415{n:07d}",
                name=f"Person {n}",
                consent=ConsentState.OPTED_IN,
            )
            for n in range(start, min(contacts, start + 5000))
        )
    return organization.pk


def start_workers(env: BenchEnv, workers: Workers) -> None:
    """Into `workers` as each starts (bench.catalog's list), the campaign worker first."""
    for name, queues in WORKERS.items():
        log = f"sms-{name}"
        workers.append((log, env.start(log, [sys.executable, "manage.py", "rqworker", *queues])))


def wait_workers_ready(workers: Workers) -> None:
    from rq import Worker

    from config.queues import get_queue

    deadline = time.monotonic() + 60
    while True:
        campaigns = Worker.count(queue=get_queue("messaging-campaigns"))
        bulk = Worker.count(queue=get_queue("messaging-bulk"))
        if campaigns >= 1 and bulk >= 2:
            return
        check_alive(workers)
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not register within 60 s; see var/bench-logs/sms-*.log")
        time.sleep(0.05)


def campaign(organization_id: int, contacts: int, workers: Workers) -> tuple[Timed, float, PeakMemory]:
    """Send to everyone; the time until all are recorded, when the fan-out ended, its peak memory."""
    from django.db import transaction

    from messaging.campaigns import campaign_send
    from messaging.models import Campaign, CampaignStatus, OutboxRecord

    made = Campaign.objects.create(
        organization_id=organization_id, name="Bench sale", template="Hi {{ contact.name }}, 20% off today"
    )
    fanned_out = 0.0
    with PeakMemory(workers[0][1].pid) as memory:
        started = time.perf_counter()
        with transaction.atomic():
            campaign_send(made)
        last, moved = -1, time.monotonic()
        while True:
            recorded = OutboxRecord.objects.count()
            if not fanned_out and Campaign.objects.filter(pk=made.pk, status=CampaignStatus.SENT).exists():
                fanned_out = time.perf_counter() - started
            if recorded >= contacts:
                break
            if recorded != last:
                last, moved = recorded, time.monotonic()
            elif time.monotonic() - moved > STALL_SECONDS:
                raise RuntimeError(
                    f"stalled at {recorded} of {contacts} recorded; see var/bench-logs/sms-*.log"
                )
            check_alive(workers)
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
    return Timed("campaign", contacts, seconds), fanned_out, memory


def noops(count: int) -> Timed:
    """`count` no-op jobs enqueued in bulk onto messaging-bulk, until the workers ran them all."""
    from rq.registry import StartedJobRegistry

    from config.queues import get_queue

    queue = get_queue("messaging-bulk")
    started = time.perf_counter()
    for start in range(0, count, 1000):
        with queue.connection.pipeline() as pipe:
            jobs = [
                queue.prepare_data("bench.jobs.noop", args=(i,), job_id=f"noop-{i}", result_ttl=0)
                for i in range(start, min(count, start + 1000))
            ]
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()
    running = StartedJobRegistry(queue=queue)
    while queue.count or running.count:
        time.sleep(0.05)
    return Timed("no-op jobs", count, time.perf_counter() - started)


def check(contacts: int, organization_id: int) -> bool:
    from django.db.models import Count

    from config.queues import get_queue
    from messaging.models import Message, MessageStatus, OutboxRecord

    results = []

    def verdict(ok: bool, text: str) -> None:
        results.append(ok)
        print(f"  {'OK ' if ok else 'FAIL'} {text}")

    sent = Message.objects.filter(organization_id=organization_id, status=MessageStatus.SENT).count()
    verdict(sent == contacts, f"{sent} of {contacts} messages sent")
    twice = OutboxRecord.objects.values("message").annotate(n=Count("pk")).filter(n__gt=1).count()
    verdict(twice == 0, f"{twice} messages recorded twice")
    failed = get_queue("messaging-bulk").failed_job_registry.count
    verdict(failed == 0, f"{failed} failed delivery jobs")
    return all(results)


def run(env: BenchEnv, *, contacts: int) -> bool:
    print(
        f"Campaign: {contacts} opted-in contacts, local backend; `rqworker` workers: 1 x "
        "messaging-campaigns (forked), 2 x messaging-delivery messaging-bulk (in-process)"
    )
    flush_redis()
    workers: Workers = []
    try:
        organization_id = create_audience(contacts)
        start_workers(env, workers)
        wait_workers_ready(workers)
        idle = rss(workers[0][1].pid)
        sent, fanned_out, peak = campaign(organization_id, contacts, workers)
        baseline = noops(contacts)
        print(
            f"  campaign: {sent.seconds:.1f} s from send to all {contacts} recorded "
            f"({sent.rate:.0f} messages/s; fan-out done at {fanned_out:.1f} s)"
        )
        print(
            f"  no-op jobs (baseline): {baseline.seconds:.1f} s for {contacts} ({baseline.rate:.0f} jobs/s)"
        )
        print(f"  campaign/baseline: {sent.seconds / baseline.seconds:.2f}x the time")
        mb = 2**20
        print(
            f"  campaign worker peak memory (resident): the fan-out's forked child "
            f"{peak.children / mb:.0f} MB, the worker {peak.worker / mb:.0f} MB "
            f"(idle before: {idle / mb:.0f} MB)"
        )
        return check(contacts, organization_id)
    finally:
        stop_workers(workers)
        flush_redis()
