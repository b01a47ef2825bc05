"""Statements the hot paths write by hand, where the ORM's would cost more than the database does.

Each event of a paid order runs a dozen statements; the ORM spends several times their database
time building them (a `.first()` costs about 0.9 ms of CPU here, its SQL 0.15 ms). The webhook
paths keep the ORM everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)

# What a model's statements need that does not change while the process runs (column lists,
# converters, quoted names), worked out on first use per model and database vendor. Worked out
# anew per statement they cost more CPU than the statement's round trip.
_READS: dict[tuple[type[models.Model], str], _Read] = {}
_INSERTS: dict[tuple[type[models.Model], str], _Insert] = {}


def _connection() -> BaseDatabaseWrapper:
    """The thread's connection itself: `django.db.connection` is a proxy that looks the thread's
    connection up again on every attribute read, which the ORM's field methods do many times."""
    return connections[DEFAULT_DB_ALIAS]


def placeholders(values: Sequence[Any]) -> str:
    """`%s, %s, ...`, one per value: the inside of an `IN (...)`."""
    return ", ".join(["%s"] * len(values))


def columns(model: type[models.Model], table: str, prefix: str = "") -> str:
    """The model's concrete columns, in their order, of `table` (quoted already, or an alias)."""
    qn = _connection().ops.quote_name
    return ", ".join(
        f"{table}.{qn(c)}" + (f" AS {qn(prefix + c)}" if prefix else "") for c in _read(model).columns
    )


def instance_from_row(model: type[M], row: Sequence[Any]) -> M:
    """A model instance from a raw row of its concrete columns, in their order, converted as the
    ORM converts what it reads (JSON text on SQLite, encrypted fields, datetimes)."""
    connection = _connection()
    read = _read(model, connection)
    values = list(row)
    if len(values) != len(read.attnames):
        raise ValueError(f"{model.__name__}: a row of {len(values)} columns, not {len(read.attnames)}")
    for i, column, converters in read.converted:
        value = values[i]
        for converter in converters:
            value = converter(value, column, connection)
        values[i] = value
    return model.from_db(connection.alias, read.attnames, values)


def select(model: type[M], where: str, params: Sequence[Any], *, for_update: bool = False) -> list[M]:
    """`SELECT <the model's columns> FROM <its table> <where>`, as instances; `for_update` locks
    the rows where the database can (SQLite serializes writers anyway). Cheaper than `raw()`,
    which works out the columns of every result anew."""
    return [instance for instance, _ in select_also(model, "", (), where, params, for_update=for_update)]


def select_also(
    model: type[M],
    also: str,
    also_params: Sequence[Any],
    where: str,
    params: Sequence[Any],
    *,
    for_update: bool = False,
) -> list[tuple[M, Any]]:
    """`select`, reading beside each row one more value, the SQL expression `also` (with
    `also_params`; none when `also` is ""): what a hot path would otherwise ask in a second
    statement. The model's table is named by its quoted name in `also`."""
    connection = _connection()
    read = _read(model, connection)
    lock = " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""
    statement = f"SELECT {read.listed}, {also} FROM {read.table}" if also else read.select
    with connection.cursor() as cursor:
        cursor.execute(f"{statement} {where}{lock}", [*also_params, *params])
        rows = cursor.fetchall()
    if not also:
        return [(instance_from_row(model, row), None) for row in rows]
    return [(instance_from_row(model, row[:-1]), row[-1]) for row in rows]


def insert_new(instance: models.Model, *, unique: Sequence[str]) -> bool:
    """INSERT the new instance unless a row with its values of `unique` (the fields of a unique
    constraint) is there: `INSERT ... ON CONFLICT DO NOTHING RETURNING id`, on PostgreSQL and
    SQLite 3.35+. Whether it was inserted (then its pk is set). One statement, where a
    savepoint around a plain INSERT, caught IntegrityError, costs three round trips."""
    connection = _connection()
    insert = _insert(type(instance), connection)
    statement = (
        f"{insert.into} VALUES {insert.row} "
        f"ON CONFLICT ({', '.join(insert.columns[name] for name in unique)}) DO NOTHING {insert.returning}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, insert.values(instance, connection))
        row = cursor.fetchone()
    if row is None:
        return False
    _saved(instance, row[0], connection)
    return True


def insert_all(instances: Sequence[models.Model]) -> None:
    """INSERT the new instances, of one model, in one statement (a batch of them when many), and
    set their pks: what `bulk_create` does, without building the statement through the ORM."""
    if not instances:
        return
    connection = _connection()
    insert = _insert(type(instances[0]), connection)
    size = max(1, connection.ops.bulk_batch_size(insert.fields, instances))
    with connection.cursor() as cursor:
        for start in range(0, len(instances), size):
            batch = instances[start : start + size]
            rows = ", ".join([insert.row] * len(batch))
            cursor.execute(
                f"{insert.into} VALUES {rows} {insert.returning}",
                [value for instance in batch for value in insert.values(instance, connection)],
            )
            # Rows come back in the order of VALUES (what the ORM's bulk_create relies on too).
            for instance, (pk,) in zip(batch, cursor.fetchall(), strict=True):
                _saved(instance, pk, connection)


class _Read:
    """How a model's rows are read: its concrete columns in order, the SELECT of them, and the
    converters of the columns that have any (most have none)."""

    def __init__(self, model: type[models.Model], connection: BaseDatabaseWrapper) -> None:
        meta = model._meta
        table = connection.ops.quote_name(meta.db_table)
        fields = meta.concrete_fields
        self.columns = [field.column for field in fields if field.column]
        self.attnames = [field.attname for field in fields]
        self.table = table
        self.listed = ", ".join(f"{table}.{connection.ops.quote_name(c)}" for c in self.columns)
        self.select = f"SELECT {self.listed} FROM {table}"
        self.converted: list[tuple[int, Any, list[Callable[..., Any]]]] = []
        for i, field in enumerate(fields):
            column = field.get_col(meta.db_table)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if converters:
                self.converted.append((i, column, converters))


def _read(model: type[models.Model], connection: BaseDatabaseWrapper | None = None) -> _Read:
    connection = connection or _connection()
    key = (model, connection.vendor)
    read = _READS.get(key)
    if read is None:
        read = _READS[key] = _Read(model, connection)
    return read


class _Insert:
    """A model's INSERT, its columns but the primary key's, and each instance's values prepared
    as the ORM's `save()` prepares them (`auto_now` stamps, JSON, decimals, datetimes)."""

    def __init__(self, model: type[models.Model], connection: BaseDatabaseWrapper) -> None:
        meta = model._meta
        quote = connection.ops.quote_name
        self.fields = [field for field in meta.concrete_fields if not field.primary_key]
        # A concrete field has a column; its attname when the stubs cannot tell.
        self.columns = {field.name: quote(field.column or field.attname) for field in self.fields}
        self.into = f"INSERT INTO {quote(meta.db_table)} ({', '.join(self.columns.values())})"
        self.row = f"({placeholders(self.fields)})"
        self.returning = f"RETURNING {quote(meta.pk.column or meta.pk.attname)}"

    def values(self, instance: models.Model, connection: BaseDatabaseWrapper) -> list[Any]:
        return [
            field.get_db_prep_save(field.pre_save(instance, add=True), connection) for field in self.fields
        ]


def _insert(model: type[models.Model], connection: BaseDatabaseWrapper) -> _Insert:
    key = (model, connection.vendor)
    insert = _INSERTS.get(key)
    if insert is None:
        insert = _INSERTS[key] = _Insert(model, connection)
    return insert


def _saved(instance: models.Model, pk: Any, connection: BaseDatabaseWrapper) -> None:
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
