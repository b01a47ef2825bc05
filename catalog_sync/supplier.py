"""The supplier step (`catalog-supplier`, one worker): what changed in a supplier's feed, staged.

It downloads the index, compares every HASH with the stored ones in batched queries, fetches only
the new or changed records, stages them (`FeedRecord.data`) and recomputes the content hash of the
families they belong to. Families whose content differs from what their product holds are handed
out, one job each. What was staged stays staged when the step fails, so its retry does not fetch
it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import ngettext

from catalog_sync import feed
from catalog_sync.families import FAMILY_JOB, family_job_id
from catalog_sync.models import CatalogSyncRun, FeedRecord, ProductFamily, Supplier
from catalog_sync.queueing import enqueue_job
from catalog_sync.runs import run_claim, run_finish_if_done, run_progress, run_step_failed
from channels_app import http
from channels_app.models import SyncStatus
from config.workers import job_will_retry, running_as_job

logger = logging.getLogger(__name__)

SUPPLIER_JOB = "catalog_sync.jobs.sync_supplier"
HASH_BATCH = 500  # families per content-hash query


def supplier_job(run_id: int) -> CatalogSyncRun:
    """The supplier step of a queued run, as its job: families are enqueued."""
    claimable = [SyncStatus.QUEUED]
    if running_as_job(f"catalog-run-{run_id}"):
        claimable.append(SyncStatus.RUNNING)  # Its own job again, after its worker died.
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
    comparing = ngettext("comparing %(n)d variant", "comparing %(n)d variants", len(entries)) % {
        "n": len(entries)
    }
    run_progress(run, comparing, 5, variants_seen=len(entries), **errors.fields())
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
            failed = ngettext("%(n)d record failed", "%(n)d records in a row failed", len(bad)) % {
                "n": len(bad)
            }
            raise http.PlatformError(f"{failed}: {bad[-1].error}", permanent=False)
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
            step=ngettext("%(n)d family to write", "%(n)d families to write", len(dirty)) % {"n": len(dirty)}
            + f", {skipped} unchanged",
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
                    touched.add(record.family_id)  # It may have left that family, whose hash changes.
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
    """The supplier's family ids by family key, creating the families not seen before."""
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
    """The content hash of the family, computed from what the hub keeps of its variants, so that
    a supplier re-hashing an unchanged record (or a field the hub does not use) changes nothing
    downstream."""
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
