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

import hashlib
import json
import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

from catalog_sync import feed
from catalog_sync.families import FAMILY_JOB, family_apply, family_failed, family_job_id
from catalog_sync.images import IMAGE_JOB, image_fetch, image_job_id, images_failed
from catalog_sync.models import (
    CatalogSyncRun,
    FamilyImage,
    FeedRecord,
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
from channels_app import http
from channels_app.models import SyncStatus
from channels_app.sweeper import JobState, job_live, queue_job_state
from config.workers import job_will_retry, running_as_job

logger = logging.getLogger(__name__)

SUPPLIER_JOB = "catalog_sync.jobs.sync_supplier"
HASH_BATCH = 500  # families per content-hash query


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


# --- The supplier step -------------------------------------------------------------------------


def supplier_job(run_id: int) -> CatalogSyncRun:
    """The supplier step of a queued run, as its job: families are enqueued."""
    claimable = [SyncStatus.QUEUED]
    if running_as_job(f"catalog-run-{run_id}"):
        claimable.append(SyncStatus.RUNNING)  # its own retry after its worker died
    run = run_claim(run_id, claimable)
    if run is None:
        return CatalogSyncRun.objects.get(pk=run_id)
    try:
        families = supplier_step(run)
    except BaseException as exc:
        run_step_failed(run, exc, retrying=job_will_retry(exc))
        raise
    for family in families:
        enqueue_job("catalog-family", FAMILY_JOB, family.pk, family_job_id(family))
    run_finish_if_done(run.pk)
    run.refresh_from_db()
    return run


def supplier_step(run: CatalogSyncRun) -> list[ProductFamily]:
    """Find what changed in the supplier's feed; return the families whose product must be
    written (each now names this run), having recorded the step's counters on the run."""
    supplier: Supplier = run.supplier
    run_progress(run, "downloading the index", 0)
    entries, line_errors = feed.index_parse(feed.index_fetch(supplier))
    errors = ErrorList(line_errors)
    run_progress(run, f"comparing {len(entries)} variants", 5, variants_seen=len(entries), **errors.fields())
    comparison = feed.compare(supplier.pk, entries)
    stored_before = FeedRecord.objects.filter(supplier=supplier).count()
    index_families = set(comparison.unchanged_families)

    changed = comparison.changed
    fetched = 0
    for chunk in feed.records_fetch(supplier, changed):
        good = [f for f in chunk if f.data is not None]
        bad = [f for f in chunk if f.error is not None]
        if bad and not good and all(f.transient for f in bad):
            # The supplier's server is failing, not its records: try the run again later (what
            # was staged so far is kept, and is not fetched again).
            raise http.PlatformError(f"{len(bad)} records in a row failed: {bad[-1].error}", permanent=False)
        errors.extend(f.error for f in bad if f.error is not None)
        staged, unstorable = _stage(supplier, good)
        errors.extend(unstorable)
        index_families |= staged
        fetched += len(chunk)
        run_progress(
            run,
            f"fetched {fetched} of {len(changed)} changed records",
            10 + 80 * fetched // max(1, len(changed)),
            records_fetched=F("records_fetched") + len(good) - len(unstorable),
            **errors.fields(),
        )
    removed = 0
    if stored_before > comparison.known:
        removed = _remove_unlisted(supplier, {e.url for e in entries})

    with transaction.atomic():
        dirty = list(
            ProductFamily.objects.filter(supplier=supplier)
            .exclude(content_hash=F("applied_hash"))
            .exclude(content_hash="")
            .order_by("pk")
        )
        ProductFamily.objects.filter(pk__in=[f.pk for f in dirty]).update(run=run, error="")
        skipped = len(index_families - {f.pk for f in dirty})
        CatalogSyncRun.objects.filter(pk=run.pk).update(
            families_changed=len(dirty),
            families_skipped=skipped,
            records_removed=removed,
            enqueued_all=True,
            step=f"{len(dirty)} families to write, {skipped} unchanged",
            step_percent=100,
            active_at=timezone.now(),
        )
    logger.info(
        "catalog run %s: %s variants, %s changed records, %s families to write, %s unchanged",
        run.pk,
        len(entries),
        len(changed),
        len(dirty),
        skipped,
        extra={"run_id": run.pk, "supplier": supplier.code},
    )
    return dirty


class ErrorList:
    """The run's malformed lines and records: the first MAX_ERRORS kept with where they are, the
    rest counted (a feed broken throughout must not make a run's row megabytes long)."""

    MAX_ERRORS = 500

    def __init__(self, errors: Iterable[feed.LineError] = ()) -> None:
        self.kept: list[dict[str, Any]] = []
        self.more = 0
        self.extend(errors)

    def extend(self, errors: Iterable[feed.LineError]) -> None:
        for error in errors:
            if len(self.kept) < self.MAX_ERRORS:
                self.kept.append(error.as_dict())
            else:
                self.more += 1

    def fields(self) -> dict[str, Any]:
        return {"errors": self.kept, "more_errors": self.more}


def _stage(supplier: Supplier, fetched: list[feed.Fetched]) -> tuple[set[int], list[feed.LineError]]:
    """Store the fetched records and refresh their families' content hashes, in one transaction
    (a retried step finds them stored, and their families still waiting). Their family ids, and
    the records the database would not take (each tried alone, so they cost only themselves)."""
    if not fetched:
        return set(), []
    try:
        return _stage_together(supplier, fetched), []
    except DatabaseError:
        families: set[int] = set()
        errors: list[feed.LineError] = []
        for item in fetched:
            try:
                families |= _stage_together(supplier, [item])
            except DatabaseError as exc:
                message = f"cannot be stored: {str(exc).splitlines()[0][:200]}"
                errors.append(feed.LineError(item.entry.line, message, item.entry.url))
        return families, errors


def _stage_together(supplier: Supplier, fetched: list[feed.Fetched]) -> set[int]:
    with transaction.atomic():
        keys = {f.data["family"] for f in fetched if f.data is not None}
        family_ids = _families(supplier, keys)
        records = {
            r.url: r
            for r in FeedRecord.objects.filter(supplier=supplier, url__in=[f.entry.url for f in fetched])
        }
        touched: set[int] = set()
        new: list[FeedRecord] = []
        now = timezone.now()
        for item in fetched:
            assert item.data is not None
            family_id = family_ids[item.data["family"]]
            record = records.get(item.entry.url)
            if record is None:
                new.append(
                    FeedRecord(
                        supplier=supplier,
                        url=item.entry.url,
                        content_hash=item.entry.content_hash,
                        family_id=family_id,
                        data=item.data,
                    )
                )
            else:
                if record.family_id is not None:
                    touched.add(record.family_id)  # it may have left that family
                record.content_hash, record.family_id, record.data = (
                    item.entry.content_hash,
                    family_id,
                    item.data,
                )
                record.updated_at = now
            touched.add(family_id)
        FeedRecord.objects.bulk_create(new)
        FeedRecord.objects.bulk_update(
            list(records.values()), ["content_hash", "family", "data", "updated_at"]
        )
        _rehash(touched)
    return set(family_ids.values())


def _families(supplier: Supplier, keys: Iterable[str]) -> dict[str, int]:
    """Family key → id, creating the families not seen before."""
    keys = set(keys)
    known = dict(
        ProductFamily.objects.filter(supplier=supplier, family_key__in=keys).values_list("family_key", "pk")
    )
    missing = keys - known.keys()
    if missing:
        ProductFamily.objects.bulk_create(
            [ProductFamily(supplier=supplier, family_key=key) for key in sorted(missing)],
            ignore_conflicts=True,
        )
        known.update(
            ProductFamily.objects.filter(supplier=supplier, family_key__in=missing).values_list(
                "family_key", "pk"
            )
        )
    return known


def family_hash(variants: list[dict[str, Any]]) -> str:
    """Of what the hub keeps of the family's variants: a supplier re-hashing an unchanged record
    (or a field the hub does not use) changes nothing downstream."""
    canonical = json.dumps(sorted(variants, key=lambda v: v["sku"]), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _rehash(family_ids: set[int]) -> None:
    ids = sorted(family_ids)
    for start in range(0, len(ids), HASH_BATCH):
        batch = ids[start : start + HASH_BATCH]
        variants: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for family_id, data in FeedRecord.objects.filter(family_id__in=batch).values_list(
            "family_id", "data"
        ):
            variants[family_id].append(data)
        families = list(ProductFamily.objects.filter(pk__in=batch))
        for family in families:
            # A family left with no records (all gone from the feed) keeps its product as it is.
            family.content_hash = (
                family_hash(variants[family.pk]) if variants[family.pk] else family.applied_hash
            )
        ProductFamily.objects.bulk_update(families, ["content_hash", "updated_at"])


def _remove_unlisted(supplier: Supplier, listed: set[str]) -> int:
    """Forget the records no longer in the index (their SKUs stay: they have stock and orders)."""
    gone = [
        (pk, family_id)
        for pk, url, family_id in FeedRecord.objects.filter(supplier=supplier).values_list(
            "pk", "url", "family_id"
        )
        if url not in listed
    ]
    with transaction.atomic():
        for start in range(0, len(gone), feed.BATCH):
            FeedRecord.objects.filter(pk__in=[pk for pk, _ in gone[start : start + feed.BATCH]]).delete()
        _rehash({family_id for _, family_id in gone if family_id is not None})
    return len(gone)


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
