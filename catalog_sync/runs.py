"""A catalog run's row: claimed by its first step, its progress and counters, and its closing.

No job owns a run from start to end: the supplier step, each family and each image count their
work on the run's row (atomically, in the transaction that did the work), and whichever finishes
last closes it with one conditional UPDATE. A job retried after its worker died, a job run twice,
or a run joined by a second "sync now" therefore closes it once.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import F
from django.utils import timezone

from catalog_sync.models import CatalogSyncRun
from channels_app.models import SyncStatus

logger = logging.getLogger(__name__)

OPEN = (SyncStatus.QUEUED, SyncStatus.RUNNING)


def run_claim(run_id: int, claimable: list[SyncStatus]) -> CatalogSyncRun | None:
    """The run, now RUNNING, if it was in a `claimable` state with its families not handed out
    yet; None when there is nothing to do (a conditional UPDATE: of two claimants, one wins)."""
    now = timezone.now()
    claimed = CatalogSyncRun.objects.filter(pk=run_id, status__in=claimable, enqueued_all=False).update(
        status=SyncStatus.RUNNING, error="", active_at=now
    )
    CatalogSyncRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    if not claimed:
        logger.info("catalog run %s: nothing to do", run_id)
        return None
    return CatalogSyncRun.objects.select_related("supplier").get(pk=run_id)


def run_step_failed(run: CatalogSyncRun, exc: BaseException, *, retrying: bool) -> None:
    CatalogSyncRun.objects.filter(pk=run.pk).update(
        status=SyncStatus.QUEUED if retrying else SyncStatus.FAILED,
        error=f"{type(exc).__name__}: {exc}"[:2000],
        finished_at=None if retrying else timezone.now(),
        active_at=timezone.now(),
    )


def run_progress(run: CatalogSyncRun, step: str, percent: int, **fields: Any) -> None:
    run.step, run.step_percent = step[:200], percent
    CatalogSyncRun.objects.filter(pk=run.pk).update(
        step=run.step, step_percent=percent, active_at=timezone.now(), **fields
    )


def run_counters_add(run_id: int | None, **increments: int) -> None:
    """Add to a run's counters (atomically: many workers count at once) and note the activity."""
    if run_id is None:
        return
    changes: dict[str, Any] = {name: F(name) + n for name, n in increments.items() if n}
    CatalogSyncRun.objects.filter(pk=run_id).update(active_at=timezone.now(), **changes)


def run_finish_if_done(run_id: int | None) -> bool:
    """Close the run if its supplier step is over and each family and image it handed out has
    counted itself (in the transaction that did its work): one conditional UPDATE of the run."""
    if run_id is None:
        return False
    now = timezone.now()
    closed = CatalogSyncRun.objects.filter(
        pk=run_id,
        status=SyncStatus.RUNNING,
        enqueued_all=True,
        families_changed__lte=F("families_done") + F("families_failed"),
        images_total__lte=F("images_fetched") + F("images_deduplicated") + F("images_failed"),
    ).update(status=SyncStatus.SUCCEEDED, step="done", finished_at=now, active_at=now)
    if closed:
        run = CatalogSyncRun.objects.get(pk=run_id)
        logger.info("catalog run %s done", run_id, extra={"run_id": run_id, **run.counters()})
    return bool(closed)
