"""Available stock pushed to every channel that lists the SKU, coalesced.

A change of a level's available units (on hand or reserved) marks each (channel, SKU, location)
that shows it as pending in a Redis sorted set, and asks for the flush job of the current
two-second window (`stock-push-<window>`, scheduled at the window's end; one job id per window,
so a burst asks once). The flush takes every pending key, reads the latest available from the
database and pushes it once: ten changes in a window make one call carrying the last value. A
change during a flush marks its key again, for the next window's job, so none is lost.

The channel's own figure is kept (`ChannelStock`): the same figure is not pushed again, and a
stock report that echoes the hub's own push is ignored by the inbound handlers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq import get_current_job
from rq.job import Job
from rq.timeouts import BaseTimeoutException

from channels_app.clients import CLIENTS, StockUpdate, client_class, client_for
from channels_app.models import Channel, ChannelLocation
from config.queues import get_queue
from config.statements import placeholders
from inventory.models import ChannelStock, ChannelVariant, StockLevel

logger = logging.getLogger(__name__)

WINDOW = 2  # seconds a burst of changes is gathered for one push
FLUSH_SECONDS = 60  # one flush's share of the queue: fulfillment pushes wait behind it
PENDING = "hub:stock-push:pending"
FLUSH_JOB = "inventory.jobs.push_stock"

# Done with a key: forget it, unless a change marked it again meanwhile (its score moved), in which
# case the next window's job pushes the newer value. Keys stay marked until pushed, so a flush job
# killed midway leaves them for its retry or the next window.
_DONE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


class StockPushed(StrEnum):
    """What became of one target in a flush; the texts are the keys of the flush job's counts."""

    PUSHED = "pushed"
    UNCHANGED = "unchanged"  # nothing sent: the channel shows it, or has no warehouse or variant for it
    FAILED = "failed"


@dataclass(frozen=True)
class Target:
    channel_id: int
    sku_id: int
    location: str  # the channel's location id; "" for a channel with one stock

    @property
    def key(self) -> str:
        return f"{self.channel_id}:{self.sku_id}:{self.location}"

    @classmethod
    def parse(cls, key: str) -> Target:
        channel_id, sku_id, location = key.split(":", 2)
        return cls(int(channel_id), int(sku_id), location)


def available_changed(levels: list[tuple[int, int]]) -> None:
    """Called inside the transaction that changed these (sku, warehouse) levels, of SKUs a
    channel lists (`listed_condition`): ask for their push once it commits."""
    transaction.on_commit(lambda: stock_push_request(levels), robust=True)


def targets_for(levels: Iterable[tuple[int, int]]) -> list[Target]:
    """Every (channel, location) that shows one of these (sku, warehouse) levels."""
    levels = set(levels)
    listed: dict[int, set[int]] = {}
    for channel_id, sku_id in _listings({sku_id for sku_id, _ in levels}):
        listed.setdefault(channel_id, set()).add(sku_id)
    if not listed:
        return []
    channels = Channel.objects.in_bulk(listed)
    targets: dict[Target, None] = {}  # in order, once each
    for channel_id, sku_ids in listed.items():
        channel = channels[channel_id]
        shown = sorted((sku_id, warehouse_id) for sku_id, warehouse_id in levels if sku_id in sku_ids)
        if client_class(channel.platform).stock_locations:
            locations = ChannelLocation.objects.filter(
                channel=channel, warehouse_id__in={warehouse_id for _, warehouse_id in shown}
            ).order_by("pk")
            for location in locations:
                for sku_id, warehouse_id in shown:
                    if warehouse_id == location.warehouse_id:
                        targets[Target(channel.pk, sku_id, location.external_id)] = None
        else:
            # The channel shows one stock: that of the warehouse its orders ship from.
            warehouse = channel.warehouse_for("")
            for sku_id, warehouse_id in shown:
                if warehouse is not None and warehouse.pk == warehouse_id:
                    targets[Target(channel.pk, sku_id, "")] = None
    return list(targets)


def _pushed_platforms() -> list[str]:
    # Every platform with an API client takes stock pushes; carriers and SMS accounts have none.
    return sorted(str(platform) for platform in CLIENTS)


# The channel variants of active channels that take stock pushes: who would be pushed a change.
_LISTING = (
    f"FROM {ChannelVariant._meta.db_table} variant "
    f"JOIN {Channel._meta.db_table} channel ON channel.id = variant.channel_id "
    "WHERE channel.is_active AND channel.platform IN ({platforms})"
)


def listed_condition(sku_column: str) -> tuple[str, list[str]]:
    """SQL true where a channel the hub pushes stock to lists the SKU of `sku_column`, and its
    parameters: read with the levels a transaction locks (`inventory.services`), so a change of
    a SKU no channel lists asks for no push, and costs no query, once it commits. A listing that
    commits between that lock and the commit is not pushed this change (the SKU's next change
    pushes its figure then), as a new listing is not pushed the figure it maps to until a change."""
    platforms = _pushed_platforms()
    listing = _LISTING.format(platforms=placeholders(platforms))
    return f"EXISTS (SELECT 1 {listing} AND variant.sku_id = {sku_column})", platforms


def _listings(sku_ids: set[int]) -> list[tuple[int, int]]:
    """(channel, SKU) of every active channel listing one of the SKUs. Written by hand: each
    stock change of a listed SKU asks once it commits, and the ORM's join costs several times
    its database time to build."""
    if not sku_ids:
        return []
    platforms = _pushed_platforms()
    skus = sorted(sku_ids)
    statement = (
        f"SELECT variant.channel_id, variant.sku_id {_LISTING.format(platforms=placeholders(platforms))} "
        f"AND variant.sku_id IN ({placeholders(skus)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*platforms, *skus])
        return sorted(cursor.fetchall())


def stock_push_request(levels: list[tuple[int, int]]) -> None:
    targets = targets_for(levels)
    if not targets:
        return
    now = time.time()
    try:
        get_queue("stock-push").connection.zadd(PENDING, {target.key: now for target in targets})
        _ask_for_flush(now)
    except RedisError as exc:
        # The ledger is not affected; the SKUs' next change pushes their figure (then the latest).
        logger.warning("stock push of %s levels not requested, Redis unavailable: %s", len(levels), exc)


def _ask_for_flush(at: float) -> None:
    """The flush job of the window holding `at`, scheduled at the window's end (so every change of
    the window is marked before it runs); one job id per window, so a burst asks once. (rq's
    enqueue_at ignores `unique`: the job's existence is checked here; two processes racing on a
    new window at worst schedule it twice, which pushes nothing twice. The scheduler's periodic
    flush catches whatever a lost job left marked.)"""
    window = int(at // WINDOW)
    queue = get_queue("stock-push")
    job_id = f"stock-push-{window}"
    if Job.exists(job_id, connection=queue.connection):
        return
    due = datetime.fromtimestamp((window + 1) * WINDOW, tz=UTC)
    queue.enqueue_at(due, FLUSH_JOB, job_id=job_id, job_timeout=120)


def push_stock_due() -> dict[str, int]:
    """Push every pending (channel, SKU, location) once, with the latest available."""
    connection = get_queue("stock-push").connection
    done = connection.register_script(_DONE)
    deadline = time.monotonic() + FLUSH_SECONDS
    due: list[tuple[bytes, float]] = connection.zrangebyscore(PENDING, "-inf", time.time(), withscores=True)  # type: ignore[assignment]
    counts = {outcome.value: 0 for outcome in StockPushed}
    for raw, score in due:
        if time.monotonic() > deadline:
            break  # The rest stay marked, for the next window's flush or the periodic one.
        key = raw.decode()
        target = Target.parse(key)
        try:
            counts[stock_push(target)] += 1
        except BaseTimeoutException:
            raise  # rq is stopping the job: that is not this key's failure.
        except Exception as exc:  # One channel's failure must not hold up the others' pushes.
            counts[StockPushed.FAILED] += 1
            ChannelStock.objects.filter(
                channel_id=target.channel_id, sku_id=target.sku_id, location_external_id=target.location
            ).update(push_error=f"{type(exc).__name__}: {exc}"[:2000])
            logger.warning(
                "stock push %s failed: %s", target.key, exc, extra={"channel_id": target.channel_id}
            )
            if not getattr(exc, "permanent", False):
                # Tried again by a later window's job (30 s on), which reads the latest value then.
                connection.zadd(PENDING, {key: time.time() + 30})
                _ask_for_flush(time.time() + 30)
                continue
        # repr() writes the score exactly, as Redis' own %.17g does, so _DONE's comparison holds.
        done(keys=[PENDING], args=[key, repr(score)])
    return counts


def stock_push(target: Target) -> StockPushed:
    """Push one target's current available, unless the channel already shows it."""
    channel = Channel.objects.get(pk=target.channel_id)
    warehouse = channel.warehouse_for(target.location)
    if warehouse is None:
        return StockPushed.UNCHANGED
    level = StockLevel.objects.filter(sku_id=target.sku_id, warehouse=warehouse).first()
    # Channels take no negative stock: an oversold level shows as none left.
    available = max(0, level.available) if level is not None else 0
    state, _ = ChannelStock.objects.get_or_create(
        channel=channel, sku_id=target.sku_id, location_external_id=target.location
    )
    if state.known_available == available:
        return StockPushed.UNCHANGED
    variant = ChannelVariant.objects.filter(channel=channel, sku_id=target.sku_id).first()
    if variant is None:
        return StockPushed.UNCHANGED
    update = StockUpdate(
        variant_id=variant.external_variant_id,
        product_id=variant.external_product_id,
        inventory_item_id=variant.external_inventory_item_id,
        location=target.location,
        available=available,
        known=state.known_available,
        # The same job (a retry after a lost answer) sends the same key for the same request:
        # Shopify applies it once. Another request (other figures) gets another key.
        idempotency_key=f"{_job_id()}:{target.key}:{available}:{state.known_available}",
    )
    # Recorded before the call: its echo may come back before the answer does.
    ChannelStock.objects.filter(pk=state.pk).update(last_pushed=available, pushed_at=timezone.now())
    set_at = client_for(channel).push_stock(update)
    ChannelStock.objects.filter(pk=state.pk).update(
        known_available=available, push_error="", **({"channel_set_at": set_at} if set_at else {})
    )
    logger.info(
        "stock of SKU %s pushed to channel %s at %s: %s",
        target.sku_id,
        channel.pk,
        target.location or "-",
        available,
        extra={"channel_id": channel.pk},
    )
    return StockPushed.PUSHED


def channel_reported(*, channel_id: int, sku_id: int, location: str, available: int) -> bool:
    """Record a channel's own figure; True when it only echoes the hub's last push (ignore it).

    The pushed figure is recorded before the call is sent, so an echo that arrives before the
    call's answer is known as one too."""
    state, _ = ChannelStock.objects.get_or_create(
        channel_id=channel_id, sku_id=sku_id, location_external_id=location
    )
    echo = state.last_pushed is not None and state.last_pushed == available
    ChannelStock.objects.filter(pk=state.pk).update(known_available=available)
    return echo


def read_before_push(*, channel_id: int, sku_id: int, location: str, reported_at: datetime) -> bool:
    """Whether the channel's figure is as of before it applied the hub's last push there (by the
    channel's own clock, as its answer said): a retried webhook, or a reconciliation's read, that
    the push has since overwritten."""
    set_at = (
        ChannelStock.objects.filter(channel_id=channel_id, sku_id=sku_id, location_external_id=location)
        .values_list("channel_set_at", flat=True)
        .first()
    )
    return set_at is not None and reported_at < set_at


def push_pending(*, channel_id: int, sku_id: int, location: str) -> bool:
    """Whether a change of this SKU waits to be pushed to this channel location."""
    try:
        key = Target(channel_id, sku_id, location).key
        return get_queue("stock-push").connection.zscore(PENDING, key) is not None
    except RedisError:
        return False


def _job_id() -> str:
    job = get_current_job()
    return job.id if job is not None else f"direct-{time.time_ns()}"
