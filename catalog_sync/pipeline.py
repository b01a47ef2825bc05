"""A supplier's catalog sync: supplier step → families → images, queued or inline.

- The supplier step (`catalog-supplier`, one worker) downloads the index, compares every HASH
  with the stored ones in batched queries, fetches only the new or changed records, stages them
  (`FeedRecord.data`) and recomputes the content hash of the families they belong to. Families
  whose content differs from what their product holds are handed out, one job each.
- A family job (`catalog-family`, three workers) writes the product and its SKUs, its history
  and its image links in one transaction, and hands out the images not stored yet.
- An image job (`catalog-images`, ten workers) downloads one URL, stores it once per content
  digest, and links every family waiting for it.

The database says what work is left (families whose `applied_hash` differs from their
`content_hash`, images still pending), so a job retried after its worker died, a job run twice,
or a run joined by a second "sync now" does the work once; the last job to finish closes the
run. `--direct` runs the same steps in the command's own process.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

from catalog_sync.families import FAMILY_JOB, family_apply, family_failed, family_job_id
from catalog_sync.images import IMAGE_JOB, image_fetch, image_job_id, images_failed
from catalog_sync.models import (
    CatalogSyncRun,
    FamilyImage,
    ImageStatus,
    ProductFamily,
    RunMode,
    Supplier,
)
from catalog_sync.queueing import enqueue_job, enqueue_on_commit, job_gone
from catalog_sync.runs import (
    OPEN,
    run_claim,
    run_finish_if_done,
    run_progress,
    run_step_failed,
)
from catalog_sync.supplier import SUPPLIER_JOB, supplier_step
from channels_app import http
from channels_app.models import SyncStatus
from channels_app.sweeper import JobState, job_live, queue_job_state

logger = logging.getLogger(__name__)


# --- Starting runs -----------------------------------------------------------------------------


def run_start(*, supplier_id: int, mode: str = RunMode.QUEUED, requested_by: str = "") -> CatalogSyncRun:
    """A new run of the supplier's sync (queued after commit unless `mode` is direct), or the one
    already under way, which a second request joins."""
    try:
        with transaction.atomic():
            run = CatalogSyncRun.objects.create(supplier_id=supplier_id, mode=mode, requested_by=requested_by)
    except IntegrityError:
        existing = CatalogSyncRun.objects.filter(supplier_id=supplier_id, status__in=OPEN).first()
        if existing is not None and _under_way(existing):
            existing.joined = True
            return existing
        CatalogSyncRun.objects.filter(supplier_id=supplier_id, status__in=OPEN).update(
            status=SyncStatus.FAILED, error="abandoned: no job was working on it", finished_at=timezone.now()
        )
        return run_start(supplier_id=supplier_id, mode=mode, requested_by=requested_by)
    if mode == RunMode.QUEUED:
        enqueue_on_commit("catalog-supplier", SUPPLIER_JOB, run.pk, run.job_id)
    return run


def _under_way(run: CatalogSyncRun) -> bool:
    """Whether something still works on an open run: its supplier job (queued, scheduled for a
    retry, or running), or, once the families are handed out (or for a direct run), a job or the
    command that touched it within CATALOG_RUN_STALL_SECONDS."""
    if timezone.now() - run.created_at < timedelta(seconds=60):
        return True  # just recorded: its enqueue (after its commit) may not have happened yet
    if run.mode == RunMode.QUEUED and not run.enqueued_all:
        return job_live(run.job_id, "catalog-supplier")
    last = run.active_at or run.started_at or run.created_at
    if timezone.now() - last < timedelta(seconds=settings.CATALOG_RUN_STALL_SECONDS):
        return True
    return run.mode == RunMode.QUEUED and _work_live(run)


def _work_live(run: CatalogSyncRun, sample: int = 50) -> bool:
    """Whether a job of the run's waiting families or images is queued or running (a sample: a
    run behind a long queue of other suppliers' work is waiting, not stalled)."""
    families = ProductFamily.objects.filter(run=run, error="").exclude(applied_hash=F("content_hash"))
    if any(job_live(family_job_id(f), "catalog-family") for f in families[:sample]):
        return True
    pending = FamilyImage.objects.filter(run=run, status=ImageStatus.PENDING).values_list(
        "source_url", flat=True
    )
    return any(job_live(image_job_id(url), "catalog-images") for url in set(pending[:sample]))


# --- Direct runs -------------------------------------------------------------------------------


def run_direct(run_id: int, *, on_progress: Callable[[], None] | None = None) -> CatalogSyncRun:
    """The whole run in this process: the supplier step, then each family, then the images with
    CATALOG_FETCH_CONCURRENCY threads. Same steps, same results as the queued run."""
    run = run_claim(run_id, [SyncStatus.QUEUED])
    if run is None:
        return CatalogSyncRun.objects.get(pk=run_id)
    try:
        families = supplier_step(run)
        urls: list[str] = []
        for number, family in enumerate(families, start=1):
            fetch, _ = family_apply(family.pk)
            urls.extend(fetch)
            if number % 50 == 0 or number == len(families):
                run_progress(run, f"wrote {number} of {len(families)} families", 100)
        with ThreadPoolExecutor(max_workers=settings.CATALOG_FETCH_CONCURRENCY) as pool:
            for number, _ in enumerate(pool.map(_image_in_thread, dict.fromkeys(urls)), start=1):
                if number % 50 == 0:
                    run_progress(run, f"fetched {number} of {len(urls)} images", 100)
        run_finish_if_done(run.pk)
    except BaseException as exc:
        run_step_failed(run, exc, retrying=False)
        raise
    run.refresh_from_db()
    return run


def _image_in_thread(url: str) -> str:
    try:
        try:
            return image_fetch(url)
        except http.PlatformError as exc:  # transient, after the HTTP layer's own retries
            images_failed(url, str(exc))
            return "failed"
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()  # each thread has its own connection


# --- Housekeeping ------------------------------------------------------------------------------


def suppliers_due() -> int:
    """Start a queued run for each active supplier whose interval has passed since its last run."""
    started = 0
    now = timezone.now()
    for supplier in Supplier.objects.filter(is_active=True, sync_interval_minutes__gt=0):
        last = supplier.runs.order_by("-created_at").values_list("created_at", flat=True).first()
        if last is not None and now - last < timedelta(minutes=supplier.sync_interval_minutes):
            continue
        with transaction.atomic():
            run = run_start(supplier_id=supplier.pk, requested_by="scheduler")
        started += not run.joined
    return started


def runs_sweep(*, idle_after: int = 120) -> dict[str, int]:
    """Heal open queued runs whose jobs were lost (Redis lost them, or their worker died: rq
    itself would notice only at its maintenance pass): the supplier step is enqueued again, and so
    are the families and images still waiting; a run nothing has worked on for
    CATALOG_RUN_STALL_SECONDS is closed as FAILED."""
    now = timezone.now()
    result = Counter[str]()
    idle = CatalogSyncRun.objects.filter(status__in=OPEN, mode=RunMode.QUEUED).filter(
        Q(active_at__lt=now - timedelta(seconds=idle_after))
        | Q(active_at__isnull=True, created_at__lt=now - timedelta(seconds=idle_after))
    )
    for run in idle:
        try:
            if not run.enqueued_all:
                result.update(_requeue_step(run))
                continue
            lost = _requeue_lost(run)
            result.update(lost)
            idle_for = now - (run.active_at or run.created_at)
            if idle_for > timedelta(seconds=settings.CATALOG_RUN_STALL_SECONDS) and not lost:
                if _work_live(run):
                    # Its jobs wait behind other suppliers' work: waiting, not stalled.
                    CatalogSyncRun.objects.filter(pk=run.pk).update(active_at=now)
                    continue
                result["stalled"] += CatalogSyncRun.objects.filter(pk=run.pk, status__in=OPEN).update(
                    status=SyncStatus.FAILED, error="stalled: no job worked on it", finished_at=now
                )
                continue
        except RedisError as exc:
            logger.warning("catalog sweep stopped, Redis unavailable: %s", exc)
            break
        run_finish_if_done(run.pk)
    return dict(result)


def loose_images_sweep(*, older_than: int = 120) -> int:
    """Enqueue images retried from the admin (they belong to no run) whose job Redis lost."""
    stale = FamilyImage.objects.filter(
        run__isnull=True,
        status=ImageStatus.PENDING,
        updated_at__lt=timezone.now() - timedelta(seconds=older_than),
    ).values_list("source_url", flat=True)
    swept = 0
    for url in set(stale):
        if job_gone(image_job_id(url), "catalog-images"):
            enqueue_job("catalog-images", IMAGE_JOB, url, image_job_id(url))
            swept += 1
    return swept


def _requeue_step(run: CatalogSyncRun) -> Counter[str]:
    state, error = queue_job_state(run.job_id, "catalog-supplier")
    if state is JobState.FAILED:
        run_step_failed(run, RuntimeError(f"its job failed: {error}"), retrying=False)
        return Counter(runs_failed=1)
    if state is JobState.GONE:
        enqueue_job("catalog-supplier", SUPPLIER_JOB, run.pk, run.job_id)
        return Counter(runs_requeued=1)
    return Counter()


def _requeue_lost(run: CatalogSyncRun) -> Counter[str]:
    result = Counter[str]()
    waiting = ProductFamily.objects.filter(run=run, error="").exclude(applied_hash=F("content_hash"))
    for family in waiting:
        job_id = family_job_id(family)
        state, error = queue_job_state(job_id, "catalog-family")
        if state is JobState.FAILED:
            family_failed(family.pk, error)
            result["families_failed"] += 1
        elif state is JobState.GONE:
            enqueue_job("catalog-family", FAMILY_JOB, family.pk, job_id)
            result["families_requeued"] += 1
    pending = FamilyImage.objects.filter(run=run, status=ImageStatus.PENDING).values_list(
        "source_url", flat=True
    )
    for url in set(pending):
        job_id = image_job_id(url)
        state, error = queue_job_state(job_id, "catalog-images")
        if state is JobState.FAILED:
            images_failed(url, error)
            result["images_failed"] += 1
        elif state is JobState.GONE:
            enqueue_job("catalog-images", IMAGE_JOB, url, job_id)
            result["images_requeued"] += 1
    return result
