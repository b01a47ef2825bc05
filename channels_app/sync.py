"""Long work against a channel's API (product import, order backfill, reconciliation, webhook
registration), each as a SyncRun that records its progress for the admin and the CLI.

`sync_start` records a run and enqueues it on the `channel-sync` queue after commit; clicking
"sync now" while a run of that kind is under way joins that run instead of starting a second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import ngettext
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from channels_app import http
from channels_app.clients import CLIENTS, ConsoleOnly, Polled, client_for
from channels_app.handlers import topics_for
from channels_app.intake import Delivery, event_record, identity_key
from channels_app.models import (
    Channel,
    ProcessedWebhookEvent,
    SubscriptionState,
    SyncKind,
    SyncRun,
    SyncStatus,
    WebhookSubscription,
)
from config.queues import SPECS, enqueue, get_queue
from config.workers import job_will_retry, running_as_job
from inventory.catalog import products_upsert

logger = logging.getLogger(__name__)

SYNC_JOB = "channels_app.jobs.run_sync"


def sync_start(
    *, channel_id: int, kind: str, since: datetime | None = None, requested_by: str = "", queued: bool = True
) -> SyncRun:
    """A new run of `kind` for the channel, queued after commit (unless the caller runs it itself);
    or the one already under way."""
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                channel_id=channel_id, kind=kind, since=since, requested_by=requested_by
            )
    except IntegrityError:
        open_runs = SyncRun.objects.filter(
            channel_id=channel_id, kind=kind, status__in=[SyncStatus.QUEUED, SyncStatus.RUNNING]
        )
        existing = open_runs.first()
        if existing is not None and _under_way(existing):
            existing.joined = True
            return existing
        # It ended meanwhile, or nothing runs it any more (its job is gone: Redis lost it, or its
        # worker died with no retry left): close it, and start anew.
        open_runs.update(
            status=SyncStatus.FAILED, error="abandoned: no job was running it", finished_at=timezone.now()
        )
        return sync_start(
            channel_id=channel_id, kind=kind, since=since, requested_by=requested_by, queued=queued
        )
    if queued:
        transaction.on_commit(lambda: enqueue("channel-sync", SYNC_JOB, run.pk, job_id=run.job_id))
    return run


def _under_way(run: SyncRun) -> bool:
    """Whether something still runs (or will run) the open run: its job, queued or running; or,
    for a run started in a command's own process, a start within the queue's time limit."""
    queue = get_queue("channel-sync")
    try:
        status = Job.fetch(run.job_id, connection=queue.connection, serializer=queue.serializer).get_status()
    except NoSuchJobError:
        status = None
    if status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    since = run.started_at or run.created_at
    return status is None and timezone.now() - since < timedelta(seconds=SPECS["channel-sync"].timeout)


def sync_run(run_id: int) -> SyncRun:
    """Run a recorded sync to its end (in a worker, or inline for `--direct`)."""
    # Claimed once: from QUEUED, or from RUNNING by the run's own job run again after its worker
    # died (its id is unique, so no other job can hold the run).
    claimable = [SyncStatus.QUEUED]
    if running_as_job(f"sync-{run_id}"):
        claimable.append(SyncStatus.RUNNING)
    updated = SyncRun.objects.filter(pk=run_id, status__in=claimable).update(
        status=SyncStatus.RUNNING, started_at=timezone.now(), error=""
    )
    run = SyncRun.objects.select_related("channel").get(pk=run_id)
    if not updated:
        logger.info("sync run %s is %s: nothing to do", run_id, run.status)
        return run
    try:
        RUNNERS[run.kind](run)
    except BaseException as exc:
        retrying = job_will_retry(exc)
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncStatus.QUEUED if retrying else SyncStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            counters=run.counters,
            finished_at=None if retrying else timezone.now(),
        )
        raise
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncStatus.SUCCEEDED, finished_at=timezone.now(), counters=run.counters
    )
    run.refresh_from_db()
    logger.info("sync run %s (%s of channel %s) done: %s", run.pk, run.kind, run.channel_id, run.counters)
    return run


def products_import(run: SyncRun) -> None:
    """Every product and variant of the channel: SKUs, products and the variant mapping."""
    channel: Channel = run.channel
    client = client_for(channel)
    # A run retried after a timeout or a lost worker goes on from its last committed page.
    done = run.done if run.resume_from else 0
    for number, page in enumerate(client.fetch_products(run.resume_from), start=1):
        counts = products_upsert(
            channel_id=channel.pk,
            organization_id=channel.organization_id,
            platform=channel.platform,
            products=page.products,
        )
        run.count(**counts)
        done += len(page.products)
        run.resume_from = page.resume
        SyncRun.objects.filter(pk=run.pk).update(resume_from=page.resume)
        products = ngettext("%(n)d product", "%(n)d products", done) % {"n": done}
        run.progress(step=f"page {number}: {products}", done=done, total=page.total)


def webhooks_register(run: SyncRun) -> None:
    """Subscribe the channel to every topic the hub handles, at its webhook URL; switch disabled
    subscriptions back on; leave working ones alone. Shopee is configured in its console: the run
    records the URL to enter there."""
    channel: Channel = run.channel
    url, now = channel.webhook_url, timezone.now()
    topics = topics_for(channel.platform)
    try:
        # A carrier has no client and raises ConsoleOnly here, as Shopee's client does: both are
        # set up in the platform's own console.
        client = client_for(channel)
        remote = {hook.topic: hook for hook in client.fetch_webhooks() if hook.callback_url == url}
    except ConsoleOnly as exc:
        for topic in topics:
            WebhookSubscription.objects.update_or_create(
                channel=channel,
                topic=topic,
                defaults={
                    "callback_url": url,
                    "state": SubscriptionState.CONSOLE,
                    "error": "",
                    "checked_at": now,
                },
            )
        run.count(console=len(topics))
        run.progress(step=str(exc)[:200], done=len(topics), total=len(topics))
        return
    run.progress(step="registering", done=0, total=len(topics))
    for number, topic in enumerate(topics, start=1):
        existing = remote.get(topic)
        if existing is not None and existing.active:
            hook = existing
            run.count(already_active=1)
        else:
            hook = client.push_webhook(topic, url, existing)
            run.count(**{"reactivated" if existing is not None else "created": 1})
        WebhookSubscription.objects.update_or_create(
            channel=channel,
            topic=topic,
            defaults={
                "external_id": hook.external_id,
                "callback_url": url,
                "state": SubscriptionState.ACTIVE,
                "error": "",
                "api_version": hook.api_version[:20],
                "checked_at": now,
                **({} if hook is existing else {"registered_at": now}),
            },
        )
        run.progress(step=f"{topic} subscribed", done=number)


RESUME_LENGTH = SyncRun._meta.get_field("resume_from").max_length or 0


def changes_poll(run: SyncRun) -> None:
    """Orders (backfill), or orders and stock (reconciliation), updated since the run's `since`,
    recorded as the webhook events that would have carried them and processed by the same handlers
    on the webhooks queue. A change already received (or polled) is the same event: a duplicate,
    counted on the run (not on the event: a reconciliation reads every stock level each time)."""
    channel: Channel = run.channel
    if run.since is None:
        run.since = reconcile_since(channel)
        SyncRun.objects.filter(pk=run.pk).update(since=run.since)
    assert run.since is not None
    source = {"X-Hub-Source": f"{run.get_kind_display().lower()} run {run.pk}"}
    # A run retried after its job's time limit or a lost worker goes on from its last page.
    done = run.done if run.resume_from else 0
    pages = client_for(channel).fetch_changes(
        run.since, stock=run.kind == SyncKind.RECONCILE, resume=run.resume_from
    )
    for page in pages:
        recorded = _recorded_keys(channel, page.changes)
        with transaction.atomic():
            for polled in page.changes:
                if identity_key(polled.key) in recorded:
                    run.count(already_received=1)
                    continue
                delivery = Delivery(
                    topic=polled.topic,
                    event_key=polled.key,
                    delivery_id=f"poll-{run.pk}",
                    triggered_at=None,
                    headers=source,
                )
                created = event_record(channel, delivery, b"", polled.payload, "").created
                run.count(**{"events_recorded" if created else "already_received": 1})
            # With its page's events: a retry neither skips nor repeats a page. (A cursor too long
            # to keep makes a retry start over, as a platform that gives none does.)
            run.resume_from = page.resume if len(page.resume) <= RESUME_LENGTH else ""
            SyncRun.objects.filter(pk=run.pk).update(resume_from=run.resume_from, counters=run.counters)
        done += len(page.changes)
        run.progress(step=f"{done} changes since {run.since:%Y-%m-%d %H:%M}", done=done)
    if run.kind == SyncKind.RECONCILE:
        # Whatever the platform may have failed to send since then has now been fetched.
        channel.subscriptions.filter(gap_since__gte=run.since).update(gap_since=None)


def _recorded_keys(channel: Channel, page: list[Polled]) -> set[str]:
    """Which of a page's changes are events already: one query, where inserting each to find out
    would cost a failed insert and an update per unchanged stock level on every run."""
    keys = [identity_key(polled.key) for polled in page]
    events = ProcessedWebhookEvent.objects.filter(
        channel=channel, source=channel.platform, event_key__in=keys
    )
    return set(events.values_list("event_key", flat=True))


def reconcile_since(channel: Channel) -> datetime:
    """Where a reconciliation starts: the last successful one's start (less an overlap for clock
    skew and in-flight writes), or a lost subscription's gap if that is earlier."""
    overlap = timedelta(seconds=settings.HUB_RECONCILE_OVERLAP)
    last = (
        SyncRun.objects.filter(channel=channel, kind=SyncKind.RECONCILE, status=SyncStatus.SUCCEEDED)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    since = (last or timezone.now() - timedelta(seconds=settings.HUB_RECONCILE_FIRST_LOOKBACK)) - overlap
    gap = channel.subscriptions.filter(gap_since__isnull=False).aggregate(first=Min("gap_since"))["first"]
    return min(since, gap - overlap) if gap else since


RUNNERS: dict[str, Callable[[SyncRun], None]] = {
    SyncKind.PRODUCTS: products_import,
    SyncKind.WEBHOOKS: webhooks_register,
    SyncKind.ORDERS: changes_poll,
    SyncKind.RECONCILE: changes_poll,
}


def reconcile_due() -> int:
    """Start a reconciliation for every connected channel whose last one started longer ago than
    HUB_RECONCILE_INTERVAL (a run under way is joined, never doubled)."""
    due_before = timezone.now() - timedelta(seconds=settings.HUB_RECONCILE_INTERVAL)
    started = 0
    for channel in Channel.objects.filter(is_active=True, platform__in=CLIENTS):
        if not any(channel.credentials.get(name) for name in ("access_token", "consumer_key")):
            continue  # The channel has no credentials yet, so there is nothing to poll with.
        recent = SyncRun.objects.filter(channel=channel, kind=SyncKind.RECONCILE, created_at__gte=due_before)
        if not recent.exists():
            with transaction.atomic():
                sync_start(channel_id=channel.pk, kind=SyncKind.RECONCILE, requested_by="schedule")
            started += 1
    return started


def subscriptions_check() -> dict[str, int]:
    """Find subscriptions the platform deleted (Shopify) or disabled (WooCommerce), mark since
    when webhooks may have been missed, and register them again; keep the API version the
    platform says each one's payloads are in (Shopify)."""
    checked = broken = 0
    channels = Channel.objects.filter(is_active=True, subscriptions__isnull=False).exclude(
        subscriptions__state=SubscriptionState.CONSOLE
    )
    for channel in channels.distinct():
        checked += 1
        try:
            remote = {
                h.topic: h
                for h in client_for(channel).fetch_webhooks()
                if h.callback_url == channel.webhook_url
            }
        except Exception as exc:  # One unreachable channel must not stop the others' check.
            logger.warning("subscriptions of channel %s not checked: %s", channel.pk, exc)
            continue
        now = timezone.now()
        lost = []
        for subscription in channel.subscriptions.all():
            hook = remote.get(subscription.topic)
            if hook is not None:
                subscription.api_version = hook.api_version[:20]
            state = (
                SubscriptionState.ACTIVE
                if hook and hook.active
                else (SubscriptionState.DISABLED if hook else SubscriptionState.MISSING)
            )
            if state != SubscriptionState.ACTIVE:
                lost.append(subscription.topic)
                # Webhooks may have stopped any time after the last check that found it working.
                gap_since = subscription.gap_since or subscription.checked_at or now
                subscription.gap_since = gap_since
            subscription.state, subscription.checked_at = state, now
            subscription.save(update_fields=["state", "checked_at", "gap_since", "api_version"])
        if lost:
            broken += 1
            logger.warning(
                "channel %s lost webhook subscriptions %s: registering them again",
                channel.pk,
                ", ".join(lost),
                extra={"channel_id": channel.pk},
            )
            with transaction.atomic():
                sync_start(channel_id=channel.pk, kind=SyncKind.WEBHOOKS, requested_by="subscription check")
                # Backfill the gap now rather than at the next scheduled poll.
                sync_start(channel_id=channel.pk, kind=SyncKind.RECONCILE, requested_by="subscription check")
    return {"checked": checked, "re_registered": broken}


def channel_verify(channel: Channel) -> tuple[bool, str]:
    """One cheap authenticated call; its result is kept on the channel for the admin."""
    try:
        with http.quick_calls():  # Someone is waiting for the page: one attempt, no long waits.
            ok, message = True, client_for(channel).verify()
    except Exception as exc:  # Any failure is the answer to "does the connection work?".
        ok, message = False, f"{type(exc).__name__}: {exc}"
    # It names a store or an error, and is shown in the admin: never an answer's markup.
    message = http.plain_text(message, 300)
    Channel.objects.filter(pk=channel.pk).update(
        connection_ok=ok, connection_message=message[:500], connection_checked_at=timezone.now()
    )
    return ok, message
