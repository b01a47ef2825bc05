"""The catalog's housekeeping, every minute on the `housekeeping` queue (config/schedule.py):
scheduled runs started, and queued runs whose jobs were lost healed.

The sweep enqueues every step's jobs again and fails what cannot be retried, so it imports the
steps; they import only runs.py to count their work, which keeps the imports pointing one way.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

from catalog_sync.families import FAMILY_JOB, family_failed, family_job_id
from catalog_sync.images import IMAGE_JOB, image_job_id, images_failed
from catalog_sync.models import CatalogSyncRun, FamilyImage, ImageStatus, ProductFamily, RunMode, Supplier
from catalog_sync.pipeline import run_start, run_work_live
from catalog_sync.queueing import enqueue_job, job_gone
from catalog_sync.runs import OPEN, run_finish_if_done, run_step_failed
from catalog_sync.supplier import SUPPLIER_JOB
from channels_app.models import SyncStatus
from config.jobs import JobState, queue_job_state

logger = logging.getLogger(__name__)


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
                if run_work_live(run):
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
