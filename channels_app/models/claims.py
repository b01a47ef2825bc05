"""Claiming a webhook event and reading it in one round trip to the database.

The claim is a conditional UPDATE (ENQUEUED or FAILED -> PROCESSING); reading the row afterwards
was a second statement, and its channel a join in it. Here the UPDATE returns the row (RETURNING,
PostgreSQL and SQLite 3.35+), and on PostgreSQL a data-modifying CTE joins the channel to it, so a
job starts with one statement. SQLite cannot join in a RETURNING clause; its channel is a second
read, which costs no network round trip there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection, models

from channels_app.models.tenancy import Channel
from config.statements import columns, instance_from_row

M = TypeVar("M", bound=models.Model)


def _to_processing() -> str:
    """The SET of a claim, for its parameters (status, started_at, updated_at): one more attempt."""
    qn = connection.ops.quote_name
    return (
        f"{qn('status')} = %s, {qn('attempts')} = {qn('attempts')} + 1, "
        f"{qn('started_at')} = %s, {qn('updated_at')} = %s"
    )


def claim_sql(
    model: type[models.Model], now: datetime, pk: int, claimable: Sequence[str], processing: str
) -> tuple[str, list[Any]]:
    qn = connection.ops.quote_name
    table = model._meta.db_table
    stamp = connection.ops.adapt_datetimefield_value(now)
    update = f"UPDATE {qn(table)} SET {_to_processing()} WHERE {qn('id')} = %s AND {qn('status')} IN (%s, %s)"
    return update, [processing, stamp, stamp, pk, *claimable]


def claim_read(model: type[M], pk: int, now: datetime, claimable: Sequence[str], processing: str) -> M | None:
    """A claimable status -> PROCESSING for exactly one caller however many run at once, and the
    claimed row with its channel; None when another caller has it, or it is done."""
    update, params = claim_sql(model, now, pk, claimable, processing)
    table = model._meta.db_table
    width = len(model._meta.concrete_fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            qn = connection.ops.quote_name
            channels = qn(Channel._meta.db_table)
            cursor.execute(
                f"WITH claimed AS ({update} RETURNING *) "
                f"SELECT {columns(model, 'claimed')}, {columns(Channel, channels, 'channel__')} "
                f"FROM claimed JOIN {channels} ON {channels}.{qn('id')} = claimed.{qn('channel_id')}",
                params,
            )
            row = cursor.fetchone()
            if row is None:
                return None
            event = instance_from_row(model, row[:width])
            event.channel = instance_from_row(Channel, row[width:])  # type: ignore[attr-defined]
            return event
        cursor.execute(f"{update} RETURNING {columns(model, connection.ops.quote_name(table))}", params)
        rows = cursor.fetchall()  # Read to the end: SQLite finishes the UPDATE only then.
    if not rows:
        return None
    event = instance_from_row(model, rows[0])
    event.channel = Channel.objects.get(pk=event.channel_id)  # type: ignore[attr-defined]
    return event


def claim_mates(
    model: type[M],
    now: datetime,
    *,
    exclude: int,
    sources: Sequence[str],
    limit: int,
    enqueued: str,
    processing: str,
) -> list[M]:
    """Up to `limit` other `enqueued` events of `sources` that never ran (attempts 0: a retried or
    re-enqueued event runs alone, by its own job, with its backoff), oldest first, moved to
    PROCESSING by one statement. PostgreSQL skips rows another claim holds locked (SKIP LOCKED);
    SQLite runs one write at a time, so its UPDATE is as exclusive without it."""
    if not sources or limit < 1:
        return []
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    ready = f"{qn('status')} = %s AND {qn('attempts')} = 0"
    marks = ", ".join(["%s"] * len(sources))
    pick = (
        f"SELECT {qn('id')} FROM {table} WHERE {ready} AND {qn('source')} IN ({marks}) "
        f"AND {qn('id')} <> %s ORDER BY {qn('id')} LIMIT %s"
    )
    pick_params: list[Any] = [enqueued, *sources, exclude, limit]
    update = f"UPDATE {table} SET {_to_processing()} WHERE {ready} AND {qn('id')} IN "
    update_params: list[Any] = [processing, stamp, stamp, enqueued]
    returning = f" RETURNING {columns(model, table)}"
    if connection.vendor == "postgresql":
        # Materialized, so the LIMIT holds: a plain `id IN (SELECT ... LIMIT n FOR UPDATE SKIP
        # LOCKED)` claimed 119 of 120 rows for a limit of 49 on PostgreSQL 15 (its plan ran the
        # locking subquery again), the whole backlog in one job.
        picked = f"WITH picked AS MATERIALIZED ({pick} FOR UPDATE SKIP LOCKED) "
        sql = f"{picked}{update}(SELECT {qn('id')} FROM picked){returning}"
        params = pick_params + update_params
    else:
        sql = f"{update}({pick}){returning}"
        params = update_params + pick_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()  # Read to the end: SQLite finishes the UPDATE only then.
    return sorted((instance_from_row(model, row) for row in rows), key=lambda event: event.pk)
