"""Accepting a webhook: read the raw body, record the event, enqueue it after commit, answer.

Accepted means stored: a 2xx goes out only once the event row is committed. Redis being down
does not fail the request (the sweeper enqueues the row later); the database being down does
(503, so the platform retries).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import CharField, F, Field
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from psycopg import ClientCursor
from psycopg.pq import TransactionStatus
from redis.exceptions import RedisError

from channels_app import boundedjson, channel_cache
from channels_app.models import CARRIERS, SMS_PROVIDERS, Channel, EventStatus, ProcessedWebhookEvent
from channels_app.webhook_channels import WebhookChannel
from config.jobs import enqueue_unique
from config.logs import current_request_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What a platform's webhook says about itself, parsed from headers (and body where needed)."""

    topic: str
    event_key: str
    delivery_id: str
    triggered_at: datetime | None
    headers: dict[str, str] = field(default_factory=dict)
    api_version: str = ""  # of the payload's shape, where the platform says (Shopify)


class Rejected(Exception):
    """The request is answered with `status` and nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@sensitive_variables("secret")
def hmac_sha256_base64(secret: str, body: bytes) -> str:
    """Shopify's, WooCommerce's and AfterShip's signature of a body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@sensitive_variables("secret", "expected")
def hmac_sha256_base64_matches(secret: str, body: bytes, signature: str) -> bool:
    if not signature:
        return False
    expected = hmac_sha256_base64(secret, body).encode()
    # Bytes, not str: compare_digest raises on a non-ASCII str, and a header is attacker-chosen.
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "surrogateescape"))


def read_body(request: HttpRequest) -> bytes:
    """The raw body, read up to WEBHOOK_MAX_BYTES (one more byte tells it was larger)."""
    limit = settings.WEBHOOK_MAX_BYTES
    declared = request.headers.get("Content-Length", "")
    if not declared and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # WSGI gives a body without a length as empty: it would fail its signature misleadingly.
        raise Rejected(411, "Content-Length required")
    if declared.isdigit() and int(declared) > limit:
        raise Rejected(413, f"body is larger than {limit} bytes")
    try:
        body = request.read(limit + 1)
    except UnreadablePostError:
        # Cut short by the client, or by config.slowclients past HUB_REQUEST_BODY_TIMEOUT.
        raise Rejected(408, "the body did not arrive in time") from None
    if declared.isdigit() and len(body) < int(declared):
        raise Rejected(408, "the body ended before its Content-Length")
    if len(body) > limit:
        raise Rejected(413, f"body is larger than {limit} bytes")
    return body


def parse_json(body: bytes) -> tuple[Any, str]:
    """Parse a verified body within boundedjson's bounds; the payload and "", or None and why the
    body is not accepted as JSON. It is parsed once, and only once its signature has verified."""
    try:
        return boundedjson.loads(body), ""
    except boundedjson.JSONRefused as exc:
        return None, f"body is not valid JSON: {exc}"


# How long the intake waits for the database before answering 503: a platform's timeout is 5 s
# (Shopify's), and a table locked by a migration or a long transaction must not hold it past that.
INTAKE_LOCK_TIMEOUT_MS = 2000
INTAKE_STATEMENT_TIMEOUT_MS = 3000


# Sent ahead of each statement of a webhook request, in the statement's own round trip: settings
# local to its transaction (an autocommit statement's implicit one) end with it, so they need no
# restoring and never reach the next request on this persistent connection. Parameters bound
# client-side (Django's default for psycopg) let one execute carry the two statements.
_POSTGRESQL_BOUND = (
    f"SELECT set_config('lock_timeout', '{INTAKE_LOCK_TIMEOUT_MS}', true), "
    f"set_config('statement_timeout', '{INTAKE_STATEMENT_TIMEOUT_MS}', true); "
)
_POSTGRESQL_LIFT = (
    "SELECT set_config(name, reset_val, true) FROM pg_settings "
    "WHERE name IN ('lock_timeout', 'statement_timeout')"
)


# Set while the bound runs a statement in its own transaction (the fallback below).
_bounding_transaction: contextvars.ContextVar[bool] = contextvars.ContextVar("bounding", default=False)


def _postgresql_bounded(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """A connection.execute_wrapper: the statement runs with the intake's bounds."""
    cursor = context["cursor"].cursor  # psycopg's own: the bound is not a statement of the view's
    if cursor.connection.info.transaction_status == TransactionStatus.INERROR:
        return execute(sql, params, many, context)  # A rollback (to a savepoint): nothing else runs.
    if _bounding_transaction.get():
        return execute(sql, params, many, context)  # The savepoint of the transaction below.
    if many or not isinstance(cursor, ClientCursor):
        # One statement only (executemany, a server-side cursor or binding): the transaction
        # around it carries the bound instead. In a caller's transaction that is a savepoint,
        # whose own statements come through this wrapper too and pass as they are.
        token = _bounding_transaction.set(True)
        try:
            with transaction.atomic(using=context["connection"].alias):
                cursor.connection.execute(_POSTGRESQL_BOUND)
                return execute(sql, params, many, context)
        finally:
            _bounding_transaction.reset(token)
    result = execute(_POSTGRESQL_BOUND + sql, params, many, context)
    cursor.nextset()  # The statement's own result (rows, rowcount), not the bound's.
    return result


@contextlib.contextmanager
def database_wait_bounded() -> Iterator[None]:
    """Within it, a statement waits for a lock at most INTAKE_LOCK_TIMEOUT_MS and runs at most
    INTAKE_STATEMENT_TIMEOUT_MS (PostgreSQL), or waits for SQLite's write lock at most
    INTAKE_STATEMENT_TIMEOUT_MS; either raises OperationalError. Nothing of it outlives the block:
    the connection goes on to serve admin pages."""
    vendor = connection.vendor
    if vendor == "postgresql":
        try:
            with connection.execute_wrapper(_postgresql_bounded):
                yield
        finally:
            if connection.in_atomic_block and not connection.needs_rollback:
                # In a caller's transaction (never a webhook request's, which autocommits) the
                # bound would last until that transaction ends.
                with connection.cursor() as cursor:
                    cursor.execute(_POSTGRESQL_LIFT)
        return
    if vendor != "sqlite":
        yield
        return
    busy_ms = int(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5) * 1000)
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {INTAKE_STATEMENT_TIMEOUT_MS}")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        except DatabaseError:
            connection.close()  # A new connection starts with the defaults: no bound outlives this.


def webhook_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Bounds the view's database wait, and turns Rejected into its answer and a database outage
    (or a wait past the bound) into 503, logging both."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            with database_wait_bounded():
                return view(request, *args, **kwargs)
        except Rejected as rejected:
            logger.warning(
                "webhook rejected: %s",
                rejected.reason,
                extra={"status": rejected.status, "path": request.path},
            )
            # The reason is logged; a 401 says no more, so it does not tell who is connected.
            public = "unauthorized" if rejected.status == 401 else rejected.reason
            return JsonResponse({"error": public}, status=rejected.status)
        except (OperationalError, InterfaceError) as exc:
            # Nothing was stored, so nothing may be acknowledged: the platform retries a 503.
            logger.error("webhook not stored, database unavailable: %s", exc, extra={"path": request.path})
            response = JsonResponse({"error": "temporarily unable to store the webhook"}, status=503)
            response["Retry-After"] = "30"
            return response

    return wrapper


def accept(
    channel: Channel | WebhookChannel,
    delivery: Delivery,
    body: bytes,
    payload: Any,
    json_error: str,
    *,
    payload_is_body: bool = False,
) -> HttpResponse:
    """Record a verified delivery and answer: 200 enqueued, 200 duplicate, or 400 kept as FAILED.
    `payload_is_body`: the payload is the body parsed as JSON (parse_json), not a form."""
    recorded = event_record(channel, delivery, body, payload, json_error, payload_is_body=payload_is_body)
    event_id = recorded.event_id
    extra = {"event_id": event_id, "channel_id": channel.pk, "topic": delivery.topic}
    if recorded.failed_because:
        logger.warning("webhook body kept as FAILED event: %s", recorded.failed_because, extra=extra)
        return JsonResponse({"error": recorded.failed_because, "event": event_id}, status=400)
    if not recorded.created:
        logger.info("duplicate webhook delivery", extra=extra)
        return JsonResponse({"status": "duplicate", "event": event_id, "event_status": recorded.event_status})
    logger.info("webhook accepted", extra=extra)
    return JsonResponse({"status": "enqueued", "event": event_id})


def _raw_text(body: bytes) -> str:
    # Every byte survives, readably: invalid UTF-8 as \xNN, and NUL (which a PostgreSQL text
    # column refuses) as \x00.
    return body.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def storable(text: str) -> str:
    """`text` as a database column takes it back: NUL (PostgreSQL refuses it) and lone surrogates
    (which no encoding holds; a JSON string may carry one) escaped, readably."""
    if "\x00" not in text:
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    return _raw_text(text.encode("utf-8", "backslashreplace"))


def _max_length(name: str) -> int:
    field = ProcessedWebhookEvent._meta.get_field(name)
    assert isinstance(field, CharField) and field.max_length
    return field.max_length


_field_length = {name: _max_length(name) for name in ("topic", "event_key", "delivery_id", "api_version")}


def identity_key(key: str) -> str:
    """The event key as stored: whole when it fits its column, else its start and a digest of all
    of it, so two keys that differ only past the column's length stay two events."""
    key = storable(key)
    limit = _field_length["event_key"]
    if len(key) <= limit:
        return key
    digest = "~sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key[: limit - len(digest)] + digest


def _oversized(delivery: Delivery) -> str:
    """Why a header-derived field cannot be stored as given, or ""."""
    for name, value in (
        ("topic", delivery.topic),
        ("delivery id", delivery.delivery_id),
        ("api version", delivery.api_version),
    ):
        limit = _field_length[name.replace(" ", "_")]
        if len(value) > limit:
            return f"{name} is {len(value)} characters, over {limit}"
    return ""


@dataclass(frozen=True)
class Recorded:
    """What recording a delivery did."""

    event_id: int
    event_status: str
    created: bool  # False: a duplicate delivery, counted on the event already stored
    failed_because: str = ""  # why the event is kept as FAILED, for ops to see; "" when it is not


def event_record(
    channel: Channel | WebhookChannel,
    delivery: Delivery,
    body: bytes,
    payload: Any,
    json_error: str,
    *,
    payload_is_body: bool = False,
) -> Recorded:
    """Insert the event, or count a duplicate delivery of one already stored.

    The unique constraint decides what is a duplicate; enqueueing waits for the commit. A payload
    parsed from the body (`payload_is_body`) is stored as the body's own text where it can be.
    """
    json_error = json_error or _oversized(delivery)
    request_id = current_request_id()
    identity = {
        "channel_id": channel.pk,
        "source": channel.platform,
        "event_key": identity_key(delivery.event_key),
    }
    fields = {
        **identity,
        "topic": storable(delivery.topic)[: _field_length["topic"]],
        "delivery_id": storable(delivery.delivery_id)[: _field_length["delivery_id"]],
        "triggered_at": delivery.triggered_at,
        "api_version": storable(delivery.api_version)[: _field_length["api_version"]],
        "headers": {name: storable(value) for name, value in delivery.headers.items()},
        "request_id": request_id,
    }

    def failed(why: str) -> dict[str, Any]:
        return {
            "payload": None,
            "raw_body": _raw_text(body),
            "status": EventStatus.FAILED,
            "error_message": why,
        }

    text = _json_text(body) if payload_is_body and not json_error else None
    try:
        try:
            event_id = _insert(
                **fields,
                **(failed(json_error) if json_error else {"payload": payload if text is None else text}),
            )
        except DataError as exc:
            # Valid JSON the database cannot hold (PostgreSQL jsonb refuses \u0000 and lone
            # surrogates). It is kept as raw text for ops; no retry of the platform would help.
            json_error = f"payload cannot be stored as JSON ({exc.__class__.__name__}); kept as raw body"
            event_id = _insert(**fields, **failed(json_error))
    except IntegrityError:
        return _duplicate(identity)
    if not json_error:
        # Outside a transaction (a webhook request) the row is committed already and this runs now.
        transaction.on_commit(
            functools.partial(_enqueue_accepted, event_id, request_id, queue_for(channel.platform))
        )
    status = EventStatus.FAILED if json_error else EventStatus.ENQUEUED
    return Recorded(event_id, status, created=True, failed_because=json_error)


class JSONText(str):
    """A payload already in JSON (the verified body): stored as it is, not serialized again."""


def _json_text(body: bytes) -> JSONText | None:
    """The text of a body that parsed as JSON, for the database to store as it is (re-serializing
    a 15 kB order costs more than the rest of the request). None when Python read it as another
    encoding than UTF-8 (a BOM, or UTF-16's NUL bytes): its parsed value is stored then."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if text.startswith("\ufeff") or "\x00" in text else JSONText(text)


@functools.cache
def _insert_statement(vendor: str) -> tuple[str, tuple[Field[Any, Any], ...]]:
    """The event's INSERT, built once per database vendor: create() builds it anew each time."""
    meta = ProcessedWebhookEvent._meta
    columns = tuple(field for field in meta.concrete_fields if not field.primary_key)
    quote = connection.ops.quote_name
    assert meta.pk is not None and all(field.column for field in columns)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(str(field.column)) for field in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING {quote(str(meta.pk.column))}"
    )
    return sql, columns


def _column_value(
    field: Field[Any, Any], values: dict[str, Any], now: datetime, db: BaseDatabaseWrapper
) -> Any:
    if field.attname in values:
        value = values[field.attname]
    elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        value = now
    else:
        value = field.get_default()
    return value if isinstance(value, JSONText) else field.get_db_prep_save(value, db)


def _insert(**values: Any) -> int:
    """One INSERT, and the new event's id. In a webhook request (autocommit) it commits by itself:
    one round trip, where a transaction and a savepoint around it cost four more. Inside a caller's
    transaction a savepoint keeps that transaction usable after a duplicate."""
    sql, columns = _insert_statement(connection.vendor)
    now = timezone.now()
    # The connection itself, not django.db.connection's proxy, which looks it up again on every
    # attribute the field methods read.
    db = connections[DEFAULT_DB_ALIAS]
    params = [_column_value(field, values, now, db) for field in columns]
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]


def _duplicate(identity: dict[str, Any]) -> Recorded:
    """Count a duplicate delivery on the event stored before it."""
    with transaction.atomic():
        counted = ProcessedWebhookEvent.objects.filter(**identity).update(
            duplicate_count=F("duplicate_count") + 1, last_duplicate_at=timezone.now()
        )
        if not counted:
            # No event of that identity: the row refused was not a duplicate but an event of a
            # channel deleted since this process cached it (channels_app.channel_cache).
            channel_cache.forget_all()
            raise Rejected(401, "channel deleted")
        existing = ProcessedWebhookEvent.objects.only("pk", "status", "error_message").get(**identity)
    why = existing.error_message if existing.status == EventStatus.FAILED else ""
    return Recorded(existing.pk, existing.status, created=False, failed_because=why)


# After Redis fails to answer, the web process stops trying for a while: each attempt could cost a
# request its connect or read timeout, and stored events are enqueued by the sweeper anyway.
REDIS_BACKOFF_SECONDS = 10.0
_redis_unavailable_until = 0.0


def queue_for(source: str) -> str:
    """The queue an event's job runs on: carriers' tracking updates and SMS have their own."""
    if source in SMS_PROVIDERS:
        return "messaging-events"
    return "shipment-tracking" if source in CARRIERS else "webhooks"


def _enqueue_accepted(event_id: int, request_id: str, queue: str = "webhooks") -> None:
    global _redis_unavailable_until
    if time.monotonic() < _redis_unavailable_until:
        logger.info("event %s stored; Redis was down moments ago, the sweeper will enqueue it", event_id)
    elif not event_enqueue(event_id, request_id, queue):
        _redis_unavailable_until = time.monotonic() + REDIS_BACKOFF_SECONDS


def event_enqueue(event_id: int, request_id: str, queue: str = "webhooks") -> bool:
    """Put the event's job on its queue; False when Redis is unreachable (the sweeper retries).

    The job carries the request id of the webhook that stored the event, whoever enqueues it.
    """
    try:
        # An existing job of that id is the event's, already on its way.
        enqueue_unique(
            queue,
            "channels_app.jobs.process_webhook_event",
            event_id,
            job_id=f"webhook-{event_id}",
            meta={"request_id": request_id},
        )
    except RedisError as exc:
        logger.warning(
            "event stored but not enqueued, Redis unavailable: %s; the sweeper will enqueue it",
            exc,
            extra={"event_id": event_id},
        )
        return False
    return True
