"""Orders: paid-order webhooks end to end (POST -> order and reservations committed) per second.

One gunicorn (as the ingest benchmark runs it) and long-running workers (`manage.py rqworker
webhooks`, not burst), three kinds of run on the same database and Redis, taking turns in rounds
(the order rotating round by round, so a drift of the machine's speed weighs on the three alike):
- paid orders, 1 worker: signed Shopify orders/paid webhooks (the recorded payload, a new order id
  each, 2 or 3 lines on the bench SKUs, so each order makes 2 or 3 reservations);
- paid orders, 2 workers: the same with new order ids;
- baseline, 1 worker: as many webhooks of a topic with no handler (customers/create, same bodies),
  which end IGNORED: the spine's drain path through the same HTTP front end.

Then the workers alone: as many paid-order events stored first (as the intake stores them) and
drained by 1, then 2, burst workers (`manage.py rqworker webhooks --burst`), timed from the first
event's claim to the last one's outcome as the events record them; twice each, alternating, the
faster of each kept (the first drain after the end-to-end runs was the slowest in trials). End
to end, two workers cannot finish before the last POST arrives, and gunicorn shares the cores with
them: the backlog shows what a second worker adds.

Each run is timed from its first POST until every one of its events has reached a final status
(one COUNT every 50 ms), after an untimed warmup batch that loads the workers' code. The client
threads, gunicorn, the workers and the database share the machine, as they would on one box.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.drain import enqueue_events, jobs_finished, store_events, time_worker
from bench.environment import BenchEnv, busy_share, cpu_times, flush_redis, stop
from bench.ingest import SECRET, SHOP, Figures, Prepared, create_channel, drive, start_gunicorn

ORDER_TOPIC = "orders/paid"
BASELINE_TOPIC = "customers/create"  # no handler: each event is claimed, dispatched and IGNORED
# The recorded orders/paid payload the tests use (data, not code: nothing imports from tests/).
SAMPLE = Path(__file__).resolve().parent.parent / "tests/fixtures/shopify/webhooks/orders_paid.json"
ORGANIZATION = "bench"  # the organization bench.ingest.create_channel creates
SKUS = tuple(f"BENCH-{n}" for n in range(1, 6))
UNITS = 1_000_000  # per SKU: never runs out, so no line is backordered
WORKER_ARGS = [sys.executable, "manage.py", "rqworker", "webhooks"]
POLL_SECONDS = 0.05
STALL_SECONDS = 60.0  # no event finished for this long: something is wrong, stop waiting
# Shopify order ids, new for every order this process sends (the bench database is new each run).
ORDER_IDS = itertools.count(7_000_000_000_001)


@dataclass(frozen=True)
class Batch:
    """Signed requests for one run's orders, and what they should leave in the database."""

    prepared: list[Prepared]
    order_ids: list[str]
    lines: int  # order lines over all orders: the reservations they should make


@dataclass(frozen=True)
class Backlog:
    """Paid-order events stored first, then drained by `workers` burst workers at once."""

    workers: int
    batch: Batch
    event_ids: list[int]
    seconds: float  # the first event's claim to the last one's outcome, as the events record them

    @property
    def rate(self) -> float:
        return len(self.event_ids) / self.seconds


@dataclass
class Run:
    name: str
    topic: str
    workers: int
    final_status: str  # what every event of the run should end as
    figures: Figures | None = None  # the timed POSTs
    seconds: float = 0.0  # first timed POST to the last timed event finished
    batches: list[Batch] = field(default_factory=list)  # warmup and timed
    event_pks: tuple[int, int] = (0, 0)  # the run's events (warmup included): first < pk <= last
    jobs: tuple[int, int] = (0, 0)  # (finished, failed) webhooks jobs, read before the next run
    busy: float | None = None  # the share of the machine's cores busy while timed (Linux only)

    @property
    def events(self) -> int:
        return len(self.batches[-1].prepared)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def unit(self) -> str:
        return "orders/s" if self.topic == ORDER_TOPIC else "events/s"


def order_lines(n: int) -> int:
    return 2 + n % 2  # 2 or 3 lines, half and half


def build_batch(topic: str, count: int, base_url: str) -> Batch:
    """Signed before timing, so the client's JSON and HMAC are not part of the figure."""
    sample = json.loads(SAMPLE.read_bytes())
    run = uuid.uuid4().hex[:12]
    prepared, order_ids, lines = [], [], 0
    for n in range(count):
        order_id = next(ORDER_IDS)
        k = order_lines(n)
        order = sample | {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#B{order_id}",
            "order_number": order_id,
            "financial_status": "paid",
            "cancelled_at": None,
            "cancel_reason": None,
            "line_items": [
                sample["line_items"][i]
                | {
                    "id": order_id * 10 + i,
                    "sku": SKUS[(n + i) % len(SKUS)],  # distinct SKUs within an order, spread over all
                    "quantity": 1,
                    "current_quantity": 1,
                    "fulfillment_status": None,
                }
                for i in range(k)
            ],
        }
        body = json.dumps(order).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        event_id = f"bench-{run}-{n}"
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": f"wh-{event_id}",
            "X-Shopify-Triggered-At": "2025-07-10T16:15:47.000000Z",
            "X-Shopify-Event-Id": event_id,
        }
        prepared.append(Prepared(f"{base_url}/webhooks/shopify/", body, headers))
        order_ids.append(str(order_id))
        lines += k
    return Batch(prepared, order_ids, lines)


def create_stock() -> None:
    """The organization's default warehouse and the bench SKUs, UNITS on hand each."""
    from channels_app.models import Organization
    from inventory.models import SKU, MovementReason, Warehouse
    from inventory.services import stock_set

    organization = Organization.objects.get(slug=ORGANIZATION)
    warehouse = Warehouse.objects.filter(organization=organization, is_default=True).first()
    if warehouse is None:
        warehouse = Warehouse.objects.create(
            organization=organization, code="bench", name="Bench warehouse", is_default=True
        )
    for code in SKUS:
        sku, _ = SKU.objects.get_or_create(organization=organization, code=code, defaults={"title": code})
        stock_set(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            on_hand=UNITS,
            reason=MovementReason.IMPORT,
            reference="bench",
        )


def last_event_pk() -> int:
    from django.db.models import Max

    from channels_app.models import ProcessedWebhookEvent

    return ProcessedWebhookEvent.objects.aggregate(pk=Max("pk"))["pk"] or 0


def finished_events(after_pk: int) -> int:
    """Events above `after_pk` in a final status: one COUNT over a primary-key range."""
    from channels_app.models import EventStatus, ProcessedWebhookEvent

    final = (EventStatus.COMPLETED, EventStatus.IGNORED, EventStatus.FAILED)
    return ProcessedWebhookEvent.objects.filter(pk__gt=after_pk, status__in=final).count()


def check_alive(workers: list[subprocess.Popen[bytes]], name: str) -> None:
    for i, process in enumerate(workers):
        if process.poll() is not None:
            raise RuntimeError(
                f"worker {i} exited with {process.returncode}; see var/bench-logs/{name}-worker-{i}.log"
            )


def wait_workers_ready(workers: list[subprocess.Popen[bytes]], name: str) -> None:
    """Until every worker has registered on the webhooks queue (so its start-up is not timed)."""
    from rq import Worker

    from config.queues import get_queue

    queue = get_queue("webhooks")
    deadline = time.monotonic() + 60
    while Worker.count(connection=queue.connection, queue=queue) < len(workers):
        check_alive(workers, name)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the workers did not register within 60 s; see var/bench-logs/{name}-worker-*.log"
            )
        time.sleep(POLL_SECONDS)


def wait_finished(after_pk: int, count: int, workers: list[subprocess.Popen[bytes]], name: str) -> None:
    """Until `count` events above `after_pk` are final; fails if none finishes for STALL_SECONDS."""
    done, progress_at = 0, time.monotonic()
    while done < count:
        time.sleep(POLL_SECONDS)
        now_done = finished_events(after_pk)
        if now_done > done:
            done, progress_at = now_done, time.monotonic()
        elif time.monotonic() - progress_at > STALL_SECONDS:
            raise RuntimeError(
                f"{name}: {done}/{count} events finished and none for {STALL_SECONDS:.0f} s; "
                f"see var/bench-logs/{name}-worker-*.log"
            )
        check_alive(workers, name)


def send(
    batch: Batch, run: Run, clients: int, workers: list[subprocess.Popen[bytes]]
) -> tuple[Figures, float, float | None]:
    """POST the batch from `clients` threads; seconds from the first POST until all its events are
    final, and the share of the machine's cores busy meanwhile."""
    after_pk = last_event_pk()
    started, cpu = time.perf_counter(), cpu_times()
    figures = drive(run.name, batch.prepared, clients)
    accepted = figures.statuses[200]
    wait_finished(after_pk, accepted, workers, slug(run))
    return figures, time.perf_counter() - started, busy_share(cpu, cpu_times())


def slug(run: Run) -> str:
    kind = "orders" if run.topic == ORDER_TOPIC else "baseline"
    return f"{kind}-{run.workers}w"


def measure(env: BenchEnv, run: Run, *, count: int, warmup: int, clients: int, base_url: str) -> None:
    flush_redis()  # an empty queue, no stale worker registrations, job counters from zero
    name = slug(run)
    workers = [env.start(f"{name}-worker-{i}", WORKER_ARGS) for i in range(run.workers)]
    try:
        wait_workers_ready(workers, name)
        run.event_pks = (last_event_pk(), 0)
        if warmup:
            run.batches.append(build_batch(run.topic, warmup, base_url))
            send(run.batches[-1], run, clients, workers)
        run.batches.append(build_batch(run.topic, count, base_url))
        run.figures, run.seconds, run.busy = send(run.batches[-1], run, clients, workers)
        run.event_pks = (run.event_pks[0], last_event_pk())
    finally:
        for process in workers:
            stop(process)
    run.jobs = jobs_finished()


def check_run(run: Run) -> bool:
    """Every POST answered 200, every event in the run's final status, no job failed;
    for orders, each order stored once with one OPEN reservation per line and no flagged line."""
    from django.db.models import Count

    from channels_app.models import ProcessedWebhookEvent

    sent = sum(len(b.prepared) for b in run.batches)
    answered = run.figures.statuses if run.figures else Counter()
    first, last = run.event_pks
    rows = (
        ProcessedWebhookEvent.objects.filter(pk__gt=first, pk__lte=last)
        .values("status")
        .annotate(n=Count("pk"))
    )
    by_status = {row["status"]: row["n"] for row in rows}
    finished, failed = run.jobs
    # A job drains the events queued behind its own (and takes their jobs off the queue), so as
    # many jobs as events finish at most, and none fails.
    events_ok = by_status == {run.final_status: sent} and 0 < finished <= sent and failed == 0
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(by_status.items()))
    answers = " ".join(f"{code or 'error'}x{n}" for code, n in sorted(answered.items()))
    print(
        f"  check: {run.name}: {sent} sent (warmup included), answers {answers} (timed); events: "
        f"{statuses}; jobs: {finished} finished, {failed} failed: {'OK' if events_ok else 'MISMATCH'}"
    )
    ok = events_ok and set(answered) == {200}
    if run.topic == ORDER_TOPIC:
        ok = check_orders(run.name, run.batches) and ok
    return ok


def check_orders(name: str, batches: list[Batch]) -> bool:
    from inventory.models import Reservation, ReservationStatus
    from orders.models import LineIssue, Order, OrderItem

    order_ids = [order_id for batch in batches for order_id in batch.order_ids]
    lines = sum(batch.lines for batch in batches)
    orders = Order.objects.filter(channel__shop_identifier=SHOP, external_id__in=order_ids).count()
    items = list(
        OrderItem.objects.filter(
            order__channel__shop_identifier=SHOP, order__external_id__in=order_ids
        ).values_list("pk", "issue")
    )
    flagged = sum(1 for _, issue in items if issue != LineIssue.NONE)
    references = [f"order-item:{pk}" for pk, _ in items]
    open_reservations = Reservation.objects.filter(
        reference__in=references, status=ReservationStatus.OPEN
    ).count()
    ok = (orders, len(items), open_reservations, flagged) == (len(order_ids), lines, lines, 0)
    print(
        f"  check: {name}: {orders}/{len(order_ids)} orders, {len(items)}/{lines} lines, "
        f"{open_reservations}/{lines} OPEN reservations, {flagged} lines flagged: "
        f"{'OK' if ok else 'MISMATCH'}"
    )
    return ok


def drain_backlog(env: BenchEnv, *, workers: int, count: int) -> Backlog:
    """Timed by the events' own stamps (claimed at, processed at), so the workers' start-up, which
    two processes do not finish at the same moment, is no part of it."""
    from django.db.models import Max, Min

    from channels_app.models import ProcessedWebhookEvent

    flush_redis()
    batch = build_batch(ORDER_TOPIC, count, "http://stored")
    # As the intake stores them: their deliveries' event ids, their bodies.
    event_ids = store_events(
        ORDER_TOPIC,
        {prepared.headers["X-Shopify-Event-Id"]: json.loads(prepared.body) for prepared in batch.prepared},
    )
    enqueue_events(event_ids)
    time_worker(env, workers)
    span = ProcessedWebhookEvent.objects.filter(pk__in=event_ids).aggregate(
        first=Min("started_at"), last=Max("processed_at")
    )
    if span["first"] is None or span["last"] is None:
        raise RuntimeError(f"stored backlog, {workers} worker(s): the events were not processed")
    return Backlog(workers, batch, event_ids, (span["last"] - span["first"]).total_seconds())


def check_backlog(backlog: Backlog) -> bool:
    from django.db.models import Count

    from channels_app.models import EventStatus, ProcessedWebhookEvent

    name = f"stored backlog, {backlog.workers} worker(s)"
    rows = (
        ProcessedWebhookEvent.objects.filter(pk__in=backlog.event_ids)
        .values("status")
        .annotate(n=Count("pk"))
    )
    by_status = {row["status"]: row["n"] for row in rows}
    _, failed = jobs_finished()
    ok = by_status == {EventStatus.COMPLETED: len(backlog.event_ids)} and failed == 0
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(by_status.items()))
    print(f"  check: {name}: events: {statuses}; {failed} jobs failed: {'OK' if ok else 'MISMATCH'}")
    return check_orders(name, [backlog.batch]) and ok


def print_backlog(backlogs: list[Backlog]) -> None:
    one, two = backlogs
    for backlog in backlogs:
        print(
            f"  stored backlog, {backlog.workers} worker(s): {len(backlog.event_ids)} orders in "
            f"{backlog.seconds:.2f} s (first claim to last outcome): {backlog.rate:7.1f} orders/s"
        )
    print(f"  stored backlog, 2 workers / 1 worker: {two.rate / one.rate:.2f}x")


def check_stock() -> bool:
    """Each bench SKU's level: on hand untouched, reserved = the sum of its OPEN reservations."""
    from django.db.models import Sum

    from inventory.models import Reservation, ReservationStatus, StockLevel

    ok, shown = True, []
    for level in StockLevel.objects.filter(sku__code__in=SKUS, sku__organization__slug=ORGANIZATION):
        held = (
            Reservation.objects.filter(
                sku_id=level.sku_id, warehouse_id=level.warehouse_id, status=ReservationStatus.OPEN
            ).aggregate(n=Sum("quantity"))["n"]
            or 0
        )
        ok = ok and level.on_hand == UNITS and level.reserved == held
        shown.append(f"{level.reserved}")
    ok = ok and len(shown) == len(SKUS)
    print(
        f"  check: stock levels: on hand {UNITS} each, reserved {'/'.join(shown)} = their OPEN "
        f"reservations: {'OK' if ok else 'MISMATCH'}"
    )
    return ok


def rate(runs: list[Run]) -> float:
    """The rounds of one kind of run as one: all their events over all their time."""
    return sum(run.events for run in runs) / sum(run.seconds for run in runs)


def print_figures(kinds: list[list[Run]]) -> None:
    print(f"  {'run':<38} {'POST req/s':>10} {'posted in':>9} {'all done in':>11} {'busy':>5}  end to end")
    for runs in kinds:
        figures = [run.figures for run in runs if run.figures is not None]
        posted = sum(f.seconds for f in figures)
        post_rate = sum(len(f.latencies) for f in figures) / posted
        done = sum(run.seconds for run in runs)
        shares = [(run.busy, run.seconds) for run in runs if run.busy is not None]
        busy = f"{sum(b * t for b, t in shares) / sum(t for _, t in shares):.0%}" if shares else "?"
        print(
            f"  {runs[0].name:<38} {post_rate:10.1f} {posted:8.2f}s {done:10.2f}s {busy:>5}  "
            f"{rate(runs):7.1f} {runs[0].unit}"
        )
    print(
        "  (POST req/s: the timed webhooks' HTTP rate while the workers run; all done in: first POST "
        "to the last event final; each summed over the rounds; busy: the share of the machine's "
        "cores at work meanwhile, client, gunicorn, workers, PostgreSQL and Redis together)"
    )
    one, two, baseline = kinds

    def ratio(numerator: list[Run], denominator: list[Run]) -> str:
        per_round = sorted(n.rate / d.rate for n, d in zip(numerator, denominator, strict=True))
        median = statistics.median(per_round)
        spread = f"median {median:.2f}x, {per_round[0]:.2f}-{per_round[-1]:.2f}x"
        return f"{rate(numerator) / rate(denominator):.2f}x (rounds: {spread})"

    print(f"  paid orders, 1 worker / baseline: {ratio(one, baseline)}")
    print(f"  2 workers / 1 worker: {ratio(two, one)}")


def run(env: BenchEnv, *, orders: int, rounds: int, warmup: int, clients: int, web_workers: int) -> bool:
    from channels_app.drain import threads
    from channels_app.models import EventStatus

    rounds = max(1, min(rounds, orders))
    print(
        f"Orders: {orders} webhooks per kind of run in {rounds} rounds, taking turns, after {warmup} "
        f"warmup each, end to end (first POST to last event final), {clients} concurrent clients, "
        f"gunicorn --workers {web_workers} (threads), `rqworker webhooks` workers (a batch on "
        f"{threads()} thread(s)); paid orders of 2-3 lines over {len(SKUS)} SKUs"
    )
    create_channel(env)
    create_stock()
    kinds = (
        ("paid orders, 1 worker", ORDER_TOPIC, 1, EventStatus.COMPLETED),
        ("paid orders, 2 workers", ORDER_TOPIC, 2, EventStatus.COMPLETED),
        (f"baseline ({BASELINE_TOPIC}), 1 worker", BASELINE_TOPIC, 1, EventStatus.IGNORED),
    )
    runs: list[list[Run]] = [[] for _ in kinds]
    gunicorn, base_url = start_gunicorn(env, web_workers)
    try:
        for r in range(rounds):
            count = orders // rounds + (r < orders % rounds)
            for k in [(r + i) % len(kinds) for i in range(len(kinds))]:  # who goes first rotates
                runs[k].append(Run(*kinds[k]))
                measure(env, runs[k][-1], count=count, warmup=warmup, clients=clients, base_url=base_url)
    finally:
        stop(gunicorn)
        flush_redis()
    print_figures(runs)
    results = [check_run(r) for kind in runs for r in kind]  # print every check
    drains: dict[int, list[Backlog]] = {1: [], 2: []}
    for workers in (1, 2, 1, 2):  # twice each, alternating: the faster of each is kept
        drains[workers].append(drain_backlog(env, workers=workers, count=orders))
        results.append(check_backlog(drains[workers][-1]))  # before the next flush clears the job counters
    flush_redis()
    print_backlog([max(drains[workers], key=lambda backlog: backlog.rate) for workers in (1, 2)])
    results.append(check_stock())
    return all(results)
