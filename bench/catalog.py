"""Catalog: a supplier's catalog sync, first and unchanged run, beside a download baseline.

A generated feed (bench.feedgen.Feed: families of variants, each family with images of its own) is
served from loopback by werkzeug's threaded server in a thread of this process. The hub's workers
run as production starts them (config.queues): 1 `rqworker catalog-supplier`, 3 `catalog-family`
and 10 `catalog-images` processes, started once for both runs. In the same run:
- first run: a new supplier's sync (`run_start`, queued): every record fetched and staged, every
  family written to a product, every image fetched and stored (in a throwaway MEDIA_ROOT);
- unchanged run: the same feed again: the index downloaded and its HASHes compared, nothing else;
- baseline: the index and every record downloaded with CATALOG_FETCH_CONCURRENCY threads (one
  session each), each record's SHA-256 compared with a dict: the time to merely download and
  hash-compare the feed, which the unchanged run should cost little more than;
- and, smaller, the index downloaded and compared with the stored HASHes (catalog_sync.feed.compare):
  what an unchanged run must at least do.

Each run is timed from `run_start` (committed) until its row says SUCCEEDED or FAILED (one read
every 50 ms). The baseline's client threads share this process (and its GIL) with the feed
server; the runs' clients are the worker processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bench.environment import VAR_DIR, BenchEnv, flush_redis, stop
from bench.feedgen import Feed

ORGANIZATION = "bench"  # the organization bench.ingest.create_channel creates
SUPPLIER = "bench"
# The seed's concurrency (config.queues: workers per queue in production).
WORKERS = {"catalog-supplier": 1, "catalog-family": 3, "catalog-images": 10}
MEDIA_DIR = VAR_DIR / "bench-media"  # the images the runs store: removed before and after
POLL_SECONDS = 0.05
STALL_SECONDS = 120.0  # no counter of the run moved for this long: something is wrong, stop waiting
TIMEOUT = (5.0, 30.0)  # the baseline's requests, as channels_app.http sends them
Workers = list[tuple[str, subprocess.Popen[bytes]]]  # (log name, process)


class QuietHandler(WSGIRequestHandler):
    """No log line per request: tens of thousands of them would flood the console."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class SyncRun:
    name: str
    seconds: float = 0.0  # run_start to the run's row in a final status
    status: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    duration: float | None = None  # the run's own: its supplier job's start to its close
    error: str = ""
    index_hits: int = 0  # requests the feed answered during the run
    record_hits: int = 0
    image_hits: int = 0

    @property
    def rate(self) -> float:
        return self.counters.get("variants_seen", 0) / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Baseline:
    name: str
    seconds: float
    variants: int  # index entries
    matched: int  # records whose SHA-256 matched (index + compare: entries unchanged)

    @property
    def rate(self) -> float:
        return self.variants / self.seconds


def serve(families: int, variants: int, images: int) -> tuple[Feed, BaseWSGIServer]:
    """The feed, served in a daemon thread on a port the system picked (the feed's URLs name it)."""
    feeds: list[Feed] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return feeds[0](environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    base_url = f"http://127.0.0.1:{server.server_port}"
    feeds.append(Feed(base_url, families=families, variants=variants, images=images))
    threading.Thread(target=server.serve_forever, name="feed", daemon=True).start()
    return feeds[0], server


def create_supplier(feed: Feed) -> int:
    from catalog_sync.models import Supplier
    from channels_app.models import Organization

    organization, _ = Organization.objects.get_or_create(slug=ORGANIZATION, defaults={"name": ORGANIZATION})
    supplier = Supplier.objects.create(
        organization=organization,
        code=SUPPLIER,
        name="Bench supplier",
        feed_url=feed.index_url,
        sync_interval_minutes=0,  # never by the scheduler
    )
    return supplier.pk


def start_workers(env: BenchEnv, workers: Workers) -> None:
    """Into `workers` as each starts, so that an interruption meanwhile stops those started."""
    for queue, count in WORKERS.items():
        for i in range(count):
            name = f"{queue}-worker-{i}"
            workers.append((name, env.start(name, [sys.executable, "manage.py", "rqworker", queue])))


def stop_workers(workers: Workers) -> None:
    """All at once (each takes about a second to shut down): one SIGTERM each, SIGKILL if stuck."""
    if workers:
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            list(pool.map(stop, [process for _, process in workers]))


def check_alive(workers: Workers) -> None:
    for name, process in workers:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see var/bench-logs/{name}.log")


def wait_workers_ready(workers: Workers) -> None:
    """Until every worker has registered on its queue (so its start-up is not timed)."""
    from rq import Worker

    from config.queues import get_queue

    deadline = time.monotonic() + 60
    while True:
        registered = {
            queue: Worker.count(connection=get_queue(queue).connection, queue=get_queue(queue))
            for queue in WORKERS
        }
        if all(registered[queue] >= count for queue, count in WORKERS.items()):
            return
        check_alive(workers)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the workers did not register within 60 s ({registered}); see var/bench-logs/catalog-*.log"
            )
        time.sleep(POLL_SECONDS)


def sync(name: str, supplier_id: int, feed: Feed, workers: Workers) -> SyncRun:
    """One queued run, from `run_start` until its row is final; stops waiting after STALL_SECONDS
    without any change to the row (status STALLED)."""
    from django.db import transaction

    from catalog_sync.models import CatalogSyncRun
    from catalog_sync.pipeline import run_start
    from channels_app.models import SyncStatus

    feed.hits.clear()  # nothing in flight between runs
    result = SyncRun(name)
    started = time.perf_counter()
    with transaction.atomic():  # run_start enqueues the supplier job on commit
        run = run_start(supplier_id=supplier_id, requested_by="bench")
    progress, progress_at = None, time.monotonic()
    while True:
        time.sleep(POLL_SECONDS)
        run = CatalogSyncRun.objects.get(pk=run.pk)
        if run.status in (SyncStatus.SUCCEEDED, SyncStatus.FAILED):
            result.seconds = time.perf_counter() - started
            result.status = run.status
            break
        now_progress = (run.status, run.step, run.step_percent, run.counters())
        if now_progress != progress:
            progress, progress_at = now_progress, time.monotonic()
        elif time.monotonic() - progress_at > STALL_SECONDS:
            result.seconds = time.perf_counter() - started
            result.status = f"STALLED ({run.status}, no change for {STALL_SECONDS:.0f} s)"
            break
        check_alive(workers)
    result.counters, result.duration, result.error = run.counters(), run.duration, run.error
    result.index_hits = feed.hits[feed.index_url.removeprefix(feed.base_url)]
    result.record_hits = feed.fetched()
    result.image_hits = feed.image_hits()
    return result


def download_compare(feed: Feed, concurrency: int) -> Baseline:
    """The index and every record it lists downloaded with `concurrency` threads (a session each),
    each record's SHA-256 compared with the one expected: nothing else a sync could do less."""
    from catalog_sync.feed import index_parse

    # What each URL serves, hashed before timing: the dict the downloads are compared with.
    expected = {
        feed.url(path): hashlib.sha256(json.dumps(record).encode()).hexdigest()
        for path, record in feed.records.items()
    }
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    def fetch(url: str) -> bytes:
        response = session().get(url, timeout=TIMEOUT)
        response.raise_for_status()
        return response.content

    def same(url: str) -> bool:
        return hashlib.sha256(fetch(url)).hexdigest() == expected.get(url)

    started = time.perf_counter()
    entries, _ = index_parse(fetch(feed.index_url))
    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        matched = sum(pool.map(same, [entry.url for entry in entries]))
    finally:
        pool.shutdown(cancel_futures=True)  # on Ctrl-C, not the rest of the downloads first
    seconds = time.perf_counter() - started
    return Baseline("baseline: download + hash-compare all", seconds, len(entries), matched)


def index_compare(feed: Feed, supplier_id: int) -> Baseline:
    """The index downloaded and parsed, its HASHes compared with the stored ones in batched
    queries (catalog_sync.feed.compare): the least an unchanged run does."""
    from catalog_sync.feed import compare, index_parse

    started = time.perf_counter()
    response = requests.get(feed.index_url, timeout=TIMEOUT)
    response.raise_for_status()
    entries, _ = index_parse(response.content)
    comparison = compare(supplier_id, entries)
    seconds = time.perf_counter() - started
    return Baseline("index + batched HASH comparison", seconds, len(entries), comparison.unchanged)


def stored_files() -> int:
    return sum(len(files) for _, _, files in os.walk(MEDIA_DIR))


def print_figures(runs: list[SyncRun], baselines: list[Baseline]) -> None:
    for r in runs:
        shown = ", ".join(f"{name} {n}" for name, n in r.counters.items())
        own = f"{r.duration:.2f} s" if r.duration is not None else "-"
        print(f"  {r.name}: {r.status}, run's own duration {own}; {shown}")
        print(f"    feed hits: index {r.index_hits}, records {r.record_hits}, images {r.image_hits}")
        if r.error:
            print(f"    error: {r.error[:300]}")
    base = baselines[0].seconds
    print(f"  {'':<40} {'seconds':>8} {'variants/s':>11} {'/ baseline':>10}")
    rows = [(r.name, r.seconds, r.rate) for r in runs] + [(b.name, b.seconds, b.rate) for b in baselines]
    for name, seconds, rate in rows:
        print(f"  {name:<40} {seconds:8.2f} {rate:11.1f} {seconds / base:9.2f}x")
    first, unchanged = runs
    print(
        f"  unchanged run / baseline: {unchanged.seconds / base:.2f}x the time; "
        f"first run / baseline: {first.seconds / base:.2f}x"
    )


def check(
    runs: list[SyncRun], baselines: list[Baseline], *, families: int, variants: int, images: int
) -> bool:
    from channels_app.models import SyncStatus

    first, unchanged = runs
    download, index = baselines
    total = families * variants
    results = []

    def verdict(ok: bool, text: str) -> None:
        results.append(ok)
        print(f"  check: {text}: {'OK' if ok else 'MISMATCH'}")

    verdict(
        first.status == SyncStatus.SUCCEEDED and unchanged.status == SyncStatus.SUCCEEDED,
        f"both runs SUCCEEDED ({first.status}, {unchanged.status})",
    )
    c = first.counters
    verdict(
        (c.get("variants_seen"), c.get("records_fetched"), c.get("products_created"), c.get("errors"))
        == (total, total, families, 0),
        f"first run: {c.get('variants_seen')}/{total} variants seen, {c.get('records_fetched')}/{total} "
        f"records fetched, {c.get('products_created')}/{families} products created, {c.get('errors')} errors",
    )
    files = stored_files()
    verdict(
        c.get("images_fetched") == files == first.image_hits == families * images
        and first.record_hits == total,
        f"first run: {c.get('images_fetched')}/{families * images} images fetched, {files} files stored; "
        f"feed hits: records {first.record_hits}/{total}, images {first.image_hits}/{families * images}",
    )
    c = unchanged.counters
    verdict(
        (c.get("families_changed"), c.get("records_fetched"), c.get("images_total"), c.get("errors"))
        == (0, 0, 0, 0)
        and (unchanged.index_hits, unchanged.record_hits, unchanged.image_hits) == (1, 0, 0),
        f"unchanged run: {c.get('families_changed')} families changed, {c.get('records_fetched')} records "
        f"fetched, {c.get('images_total')} images; feed hits: index {unchanged.index_hits}, records "
        f"{unchanged.record_hits}, images {unchanged.image_hits}",
    )
    verdict(
        download.matched == download.variants == total and index.matched == index.variants == total,
        f"baselines: {download.matched}/{total} records' SHA-256 as expected, "
        f"{index.matched}/{total} HASHes unchanged",
    )
    verdict(
        unchanged.seconds <= download.seconds,
        f"unchanged run {unchanged.seconds:.2f} s <= baseline {download.seconds:.2f} s "
        f"({unchanged.seconds / download.seconds:.2f}x)",
    )
    return all(results)


def run(env: BenchEnv, *, families: int, variants: int, images: int) -> bool:
    from django.conf import settings

    concurrency = settings.CATALOG_FETCH_CONCURRENCY
    workers_shown = ", ".join(f"{n} x {queue}" for queue, n in WORKERS.items())
    print(
        f"Catalog: a feed of {families * variants} variants in {families} families with "
        f"{families * images} images, served from loopback; `rqworker` workers: {workers_shown}; "
        f"CATALOG_FETCH_CONCURRENCY={concurrency}"
    )
    shutil.rmtree(MEDIA_DIR, ignore_errors=True)
    media_before = os.environ.get("MEDIA_ROOT")
    os.environ["MEDIA_ROOT"] = str(MEDIA_DIR)  # the workers' (they read it from the environment)
    settings.MEDIA_ROOT = str(MEDIA_DIR)  # this process read its settings already
    # The feed is served from loopback, which the hub refuses by default (a merchant's feed URL
    # must not reach the hub's own network).
    os.environ["HUB_OUTBOUND_ALLOW_NETWORKS"] = "127.0.0.0/8"
    settings.HUB_OUTBOUND_ALLOW_NETWORKS = ["127.0.0.0/8"]
    flush_redis()  # empty queues, no stale worker registrations
    feed, server = serve(families, variants, images)
    workers: Workers = []
    try:
        supplier_id = create_supplier(feed)
        start_workers(env, workers)
        wait_workers_ready(workers)
        runs = [sync("first run", supplier_id, feed, workers)]
        runs.append(sync("unchanged run", supplier_id, feed, workers))
        baselines = [download_compare(feed, concurrency), index_compare(feed, supplier_id)]
        print_figures(runs, baselines)
        return check(runs, baselines, families=families, variants=variants, images=images)
    finally:
        stop_workers(workers)
        server.shutdown()
        server.server_close()
        flush_redis()
        shutil.rmtree(MEDIA_DIR, ignore_errors=True)
        if media_before is None:
            os.environ.pop("MEDIA_ROOT", None)
        else:
            os.environ["MEDIA_ROOT"] = media_before
