"""A supplier's catalog sync, started: supplier step → families → images, queued or in-process.

A run goes through three steps, each in its own module:

- the supplier step (`supplier.py`, `catalog-supplier`, one worker) stages the feed's new and
  changed records and hands out the families whose content changed, one job each;
- a family job (`families.py`, `catalog-family`, three workers) writes the product and its SKUs,
  its history and its image links in one transaction, and hands out the images not stored yet;
- an image job (`images.py`, `catalog-images`, ten workers) downloads one URL, stores it once per
  content digest, and links every family waiting for it.

The database says what work is left (families whose `applied_hash` differs from their
`content_hash`, images still pending), so a job retried after its worker died, a job run twice,
or a run joined by a second "sync now" does the work once; the last job to finish closes the run
(`runs.py`), and the housekeeping sweep enqueues again what Redis lost (`housekeeping.py`).

This module starts a run, or joins the one under way, and runs the same steps in the command's
own process for `--direct`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import ngettext

from catalog_sync.families import family_apply, family_job_id
from catalog_sync.images import ImageFetched, image_fetch, image_job_id, images_failed
from catalog_sync.models import (
    CatalogSyncRun,
    FamilyImage,
    ImageStatus,
    ProductFamily,
    RunMode,
)
from catalog_sync.queueing import enqueue_on_commit
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
from config.jobs import job_live

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


class RunRestart(StrEnum):
    """What a retry of a run's failed supplier job did to bring the sync back."""

    REOPENED = "reopened"  # The closed run is queued again, and its own job retried.
    STARTED = "started"  # A new run: the closed one had handed out its families already.
    JOINED = "joined"  # Another run of the supplier was open, and is the one that syncs.
    OPEN = "open"  # The run is still open: its job is retried as it is.


def run_restart(*, run_id: int, requested_by: str = "") -> tuple[CatalogSyncRun, RunRestart]:
    """Bring a closed run's sync back, for a retry of its failed supplier job (whose claim would
    find the run closed and do nothing). A run that failed before handing out its families is
    reopened, as rq's own retry would have left it; any other closed run is followed by a new one
    (its counters tell what it did), or by the supplier's run already open."""
    run = CatalogSyncRun.objects.get(pk=run_id)
    if run.status in OPEN:
        return run, RunRestart.OPEN
    try:
        with transaction.atomic():
            reopened = CatalogSyncRun.objects.filter(
                pk=run_id, status=SyncStatus.FAILED, enqueued_all=False, mode=RunMode.QUEUED
            ).update(status=SyncStatus.QUEUED, finished_at=None, active_at=timezone.now())
    except IntegrityError:  # Another run of the supplier is open: only one may be (catalog_run_one_open).
        reopened = 0
    if reopened:
        logger.info("catalog run %s reopened for a retry by %s", run_id, requested_by or "?")
        run.refresh_from_db()
        return run, RunRestart.REOPENED
    started = run_start(supplier_id=run.supplier_id, requested_by=requested_by)
    return started, RunRestart.JOINED if started.joined else RunRestart.STARTED


def _under_way(run: CatalogSyncRun) -> bool:
    """Whether something still works on an open run: its supplier job (queued, scheduled for a
    retry, or running), or, once the families are handed out (or for a direct run), a job or the
    command that touched it within CATALOG_RUN_STALL_SECONDS."""
    if timezone.now() - run.created_at < timedelta(seconds=60):
        # Just recorded: its enqueue, which waits for its commit, may not have happened yet.
        return True
    if run.mode == RunMode.QUEUED and not run.enqueued_all:
        return job_live(run.job_id, "catalog-supplier")
    last = run.active_at or run.started_at or run.created_at
    if timezone.now() - last < timedelta(seconds=settings.CATALOG_RUN_STALL_SECONDS):
        return True
    return run.mode == RunMode.QUEUED and run_work_live(run)


def run_work_live(run: CatalogSyncRun, sample: int = 50) -> bool:
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
                wrote = ngettext(
                    "wrote %(i)d of %(n)d family", "wrote %(i)d of %(n)d families", len(families)
                )
                run_progress(run, wrote % {"i": number, "n": len(families)}, 100)
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


def _image_in_thread(url: str) -> ImageFetched:
    try:
        try:
            return image_fetch(url)
        except http.PlatformError as exc:  # Transient, and the HTTP layer has retried it already.
            images_failed(url, str(exc))
            return ImageFetched.FAILED
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()  # Each thread opened its own connection, which would outlive it.
