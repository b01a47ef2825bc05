"""Ingest: signed Shopify webhooks per second through gunicorn, beside two baseline views.

The same pre-signed requests (recorded orders/create payload, every one a first delivery) go to:
- /bench/noop/: the request through the same middleware, touching neither database nor Redis;
- /bench/insert/: one committed INSERT of the body, the floor of any durable intake;
- /webhooks/shopify/: the real endpoint (verify, store the event, enqueue it after commit, answer).

They take turns, in rounds of a few hundred requests each (the order rotating round by round), so
a drift of the machine's speed over a run weighs on the three alike; the ratios are printed over
the whole run and per round.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.environment import BIN, BenchEnv, stop

SHOP = "bench.myshopify.com"
SECRET = "benchsecret"
TOPIC = "orders/create"
# The recorded orders/create payload the tests use (data, not code: nothing imports from tests/).
PAYLOAD = Path(__file__).resolve().parent.parent / "tests/fixtures/shopify/webhooks/orders_create.json"
ENDPOINTS = (
    ("noop view", "/bench/noop/"),
    ("single-insert view", "/bench/insert/"),
    ("webhook (Shopify)", "/webhooks/shopify/"),
)


@dataclass(frozen=True)
class Prepared:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Figures:
    name: str
    seconds: float
    latencies: list[float]  # seconds, per request
    client_cpu: float  # CPU seconds this process spent sending: the client shares the machine
    statuses: Counter[int] = field(default_factory=Counter)  # 0: no answer (connection error)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    @classmethod
    def merged(cls, name: str, rounds: list[Figures]) -> Figures:
        """One endpoint's rounds as one figure: all its requests over all its time."""
        statuses: Counter[int] = Counter()
        for r in rounds:
            statuses.update(r.statuses)
        return cls(
            name,
            sum(r.seconds for r in rounds),
            [latency for r in rounds for latency in r.latencies],
            sum(r.client_cpu for r in rounds),
            statuses,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_requests(url: str, count: int) -> list[Prepared]:
    """Signed before timing, so the client's HMAC is not part of the figure."""
    body = PAYLOAD.read_bytes().rstrip(b"\n")
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    prepared = []
    for _ in range(count):
        event_id = str(uuid.uuid4())  # a new Event-Id makes each request a first delivery
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": TOPIC,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": f"wh-{event_id}",
            "X-Shopify-Triggered-At": "2025-07-10T16:15:47.000000Z",
            "X-Shopify-Event-Id": event_id,
        }
        prepared.append(Prepared(url, body, headers))
    return prepared


def drive(name: str, prepared: list[Prepared], clients: int) -> Figures:
    """Send every request from `clients` threads at once; time each request and the whole batch."""
    local = threading.local()

    def send(request: Prepared) -> tuple[int, float]:
        if not hasattr(local, "session"):
            local.session = requests.Session()  # a Session is not safe to share between threads
        started = time.perf_counter()
        try:
            response = local.session.post(request.url, data=request.body, headers=request.headers, timeout=60)
            status = response.status_code
        except requests.RequestException:
            status = 0
        return status, time.perf_counter() - started

    started, cpu_started = time.perf_counter(), time.process_time()
    pool = ThreadPoolExecutor(max_workers=clients)
    try:
        results = list(pool.map(send, prepared))
    finally:
        pool.shutdown(cancel_futures=True)  # on Ctrl-C, drop what is not sent yet instead of sending it
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    latencies = [elapsed for _, elapsed in results]
    return Figures(name, seconds, latencies, cpu, Counter(status for status, _ in results))


def create_channel(env: BenchEnv) -> None:
    """The shop the requests are signed for, created as a merchant would (idempotent)."""
    env.manage(
        "create_channel", "--org", "bench", "--platform", "shopify",
        "--shop-domain", SHOP, "--webhook-secret", SECRET,
    )  # fmt: skip


def start_gunicorn(env: BenchEnv, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [
        *(str(BIN / "gunicorn"), "-c", "python:config.gunicorn", "config.wsgi"),  # as the hub serves
        *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
    ]
    process = env.start("gunicorn", args)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited at start; see var/bench-logs/gunicorn.log")
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return process, base_url
        except (requests.ConnectionError, requests.Timeout):
            pass  # Not listening yet, or still loading the app on a busy machine: ask again.
        time.sleep(0.1)
    stop(process)
    raise RuntimeError("gunicorn did not answer /healthz within 30 s; see var/bench-logs/gunicorn.log")


def print_figures(rounds: dict[str, list[Figures]]) -> None:
    figures = [Figures.merged(name, endpoint_rounds) for name, endpoint_rounds in rounds.items()]
    print(f"  {'endpoint':<20} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'client CPU':>10}  statuses")
    for f in figures:
        statuses = " ".join(f"{code or 'error'}x{n}" for code, n in sorted(f.statuses.items()))
        cpu = f"{f.client_cpu / f.seconds:.0%}"
        latency = f"{f.percentile_ms(50):8.1f} {f.percentile_ms(99):8.1f}"
        print(f"  {f.name:<20} {f.rate:8.1f} {latency} {cpu:>10}  {statuses}")
    noop, insert, webhook = figures
    for baseline in (noop, insert):
        # Each round's ratio too: the endpoints of one round ran within seconds of each other.
        per_round = sorted(
            w.rate / b.rate for w, b in zip(rounds[webhook.name], rounds[baseline.name], strict=True)
        )
        print(
            f"  webhook/{baseline.name.split()[0]}: {webhook.rate / baseline.rate:.2f}x the req/s "
            f"(rounds: median {statistics.median(per_round):.2f}x, {per_round[0]:.2f}-{per_round[-1]:.2f}x), "
            f"{webhook.percentile_ms(50) / baseline.percentile_ms(50):.2f}x the p50 latency"
        )


def discard_events() -> None:
    """The stored events (ENQUEUED, their jobs about to be flushed) served the check only: left
    there, the next benchmark's workers would claim them as batch-mates and process them too."""
    from channels_app.models import ProcessedWebhookEvent

    ProcessedWebhookEvent.objects.all().delete()


def check_stored(accepted_webhooks: int, accepted_inserts: int) -> bool:
    """Accepted means stored: every 200 from the webhook endpoint left an event row (and a job)."""
    from django.db import connection

    from channels_app.models import ProcessedWebhookEvent
    from config.queues import get_queue

    events = ProcessedWebhookEvent.objects.count()
    jobs = get_queue("webhooks").count
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_insert")
        (inserted,) = cursor.fetchone()
    ok = events == accepted_webhooks and inserted == accepted_inserts
    print(
        f"  check: {accepted_webhooks} webhooks answered 200 (warmup included), {events} events stored, "
        f"{jobs} jobs queued; {accepted_inserts} inserts answered 200, {inserted} rows: "
        f"{'OK' if ok else 'MISMATCH'}"
    )
    return ok


def run(
    env: BenchEnv, *, requests_per_endpoint: int, rounds: int, clients: int, warmup: int, web_workers: int
) -> bool:
    rounds = max(1, min(rounds, requests_per_endpoint))
    print(
        f"Ingest: {requests_per_endpoint} requests per endpoint in {rounds} rounds, the endpoints taking "
        f"turns, after {warmup} warmup, {clients} concurrent clients (threads, new connection per "
        f"request), gunicorn --workers {web_workers} (threads)"
    )
    create_channel(env)
    process, base_url = start_gunicorn(env, web_workers)
    try:
        accepted: Counter[str] = Counter()
        for name, path in ENDPOINTS:
            accepted[path] += drive(name, prepare_requests(base_url + path, warmup), clients).statuses[200]
        # The endpoints take turns, in a rotating order: the machine's speed drifts over seconds,
        # and an endpoint timed alone, after the others, would carry the drift into the ratios.
        timed: dict[str, list[Figures]] = {name: [] for name, _ in ENDPOINTS}
        for r in range(rounds):
            count = requests_per_endpoint // rounds + (r < requests_per_endpoint % rounds)
            for name, path in ENDPOINTS[r % len(ENDPOINTS) :] + ENDPOINTS[: r % len(ENDPOINTS)]:
                round_figures = drive(name, prepare_requests(base_url + path, count), clients)
                accepted[path] += round_figures.statuses[200]
                timed[name].append(round_figures)
    finally:
        stop(process)
    print_figures(timed)
    ok = check_stored(accepted["/webhooks/shopify/"], accepted["/bench/insert/"])
    discard_events()
    print("  (client CPU: this process's CPU time / wall time; near 100% means the client took a whole core)")
    return ok and all(set(f.statuses) == {200} for endpoint_rounds in timed.values() for f in endpoint_rounds)
