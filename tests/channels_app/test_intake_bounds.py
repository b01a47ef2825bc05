"""Hostile webhook requests, each once answered 500 with nothing stored (so the platform retried it
forever): now 401 when unsigned, 400 kept as a FAILED event when signed, never a stall."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, transaction

from channels_app.intake import database_wait_bounded
from channels_app.models import EventStatus, ProcessedWebhookEvent
from tests.channels_app.endpoints import BY_NAME, TWILIO_SID
from tests.platforms import fixture_bytes

pytestmark = pytest.mark.django_db

HUGE_INTEGER = b'{"id": ' + b"9" * 5000 + b"}"
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
HOSTILE_BODIES = {"huge integer": HUGE_INTEGER, "deep array": DEEP_ARRAY, "deep object": DEEP_OBJECT}
JSON_PLATFORMS = ("shopify", "woocommerce", "easypost", "aftership")


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_an_unsigned_hostile_body_to_shopee_is_401_before_it_is_parsed(client, body):
    endpoint = BY_NAME["shopee"]
    channel = endpoint.create()
    response = endpoint.post(client, channel, body, signed=False, headers={"HTTP_AUTHORIZATION": "0" * 64})
    assert response.status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()


@pytest.mark.parametrize("name", [*JSON_PLATFORMS, "shopee"])
@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_signed_hostile_body_is_400_and_kept_as_a_failed_event(client, name, body):
    endpoint = BY_NAME[name]
    channel = endpoint.create()
    response = endpoint.post(client, channel, body, signed=True, headers={})
    assert response.status_code == 400
    event = ProcessedWebhookEvent.objects.get(channel=channel)
    assert event.status == EventStatus.FAILED
    assert event.payload is None
    assert event.raw_body.startswith(body[:100].decode())
    assert any(
        reason in event.error_message for reason in ("more than 40 digits", "nested deeper than 64 levels")
    ), event.error_message


@pytest.mark.parametrize("literal", [b"NaN", b"-Infinity", b"1e999999"])
def test_numbers_no_platform_sends_are_refused(client, literal):
    endpoint = BY_NAME["shopify"]
    channel = endpoint.create()
    response = endpoint.post(client, channel, b'{"total": ' + literal + b"}", signed=True, headers={})
    assert response.status_code == 400
    assert ProcessedWebhookEvent.objects.get(channel=channel).status == EventStatus.FAILED


def test_a_non_ascii_twilio_signature_is_401(client):
    endpoint = BY_NAME["twilio-status"]
    channel = endpoint.create()
    body = f"AccountSid={TWILIO_SID}&MessageSid=SM1&MessageStatus=sent".encode()
    response = endpoint.post(
        client, channel, body, signed=False, headers={"HTTP_X_TWILIO_SIGNATURE": "sïgnature"}
    )
    assert response.status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()


def test_a_body_twilio_could_not_have_sent_is_401(client):
    endpoint = BY_NAME["twilio-inbound"]
    channel = endpoint.create()
    response = endpoint.post(client, channel, b"\xff\xfe not a form", signed=True, headers={})
    assert response.status_code == 401


def test_a_signed_twilio_post_without_a_message_sid_is_kept_as_failed(client, settings):
    endpoint = BY_NAME["twilio-status"]
    channel = endpoint.create()
    body = f"AccountSid={TWILIO_SID}&MessageStatus=sent".encode()
    response = endpoint.post(client, channel, body, signed=True, headers={})
    assert response.status_code == 400
    event = ProcessedWebhookEvent.objects.get()
    assert (event.status, event.error_message) == (EventStatus.FAILED, "no MessageSid")
    # The same body again is a duplicate of that event, not a second one.
    assert endpoint.post(client, channel, body, signed=True, headers={}).status_code == 400
    assert ProcessedWebhookEvent.objects.get().duplicate_count == 1


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("shopee", {"shop_id": 727720655, "code": 3, "timestamp": 10**20, "data": {"ordersn": "X"}}),
        ("shopee", {"shop_id": 727720655, "code": 3, "timestamp": -(10**12), "data": {"ordersn": "X"}}),
        ("easypost", {"id": "evt_1", "description": "tracker.updated", "created_at": 10**20}),
        ("aftership", {"event_id": "e-1", "event": "tracking_update", "ts": 1e300}),
        ("aftership", {"event_id": "e-2", "event": "tracking_update", "ts": "9999-12-31T23:59:59-05:00"}),
    ],
)
def test_a_signed_timestamp_out_of_range_is_stored_without_a_time(client, name, body):
    endpoint = BY_NAME[name]
    channel = endpoint.create()
    response = endpoint.post(client, channel, json.dumps(body).encode(), signed=True, headers={})
    assert response.status_code == 200
    event = ProcessedWebhookEvent.objects.get(channel=channel)
    assert (event.status, event.triggered_at) == (EventStatus.ENQUEUED, None)


def test_a_signed_topic_longer_than_its_column_is_400_and_kept(client):
    endpoint = BY_NAME["shopify"]
    channel = endpoint.create()
    body = fixture_bytes("shopify/webhooks/orders_create.json")
    topic = "orders/" + "x" * 293
    response = endpoint.post(
        client,
        channel,
        body,
        signed=True,
        headers={"HTTP_X_SHOPIFY_TOPIC": topic, "HTTP_X_SHOPIFY_EVENT_ID": "e1"},
    )
    assert response.status_code == 400
    event = ProcessedWebhookEvent.objects.get()
    assert event.status == EventStatus.FAILED
    assert event.error_message == "topic is 300 characters, over 100"
    assert event.topic == topic[:100]


def test_two_long_event_ids_sharing_a_prefix_are_two_events(client):
    endpoint = BY_NAME["shopify"]
    channel = endpoint.create()
    body = fixture_bytes("shopify/webhooks/orders_create.json")
    answers = [
        endpoint.post(
            client,
            channel,
            body,
            signed=True,
            headers={"HTTP_X_SHOPIFY_TOPIC": "orders/create", "HTTP_X_SHOPIFY_EVENT_ID": "e" * 299 + last},
        ).json()
        for last in "12"
    ]
    assert [a["status"] for a in answers] == ["enqueued", "enqueued"]
    keys = list(ProcessedWebhookEvent.objects.values_list("event_key", flat=True))
    assert len(set(keys)) == 2 and all(len(k) <= 255 for k in keys)
    # And a redelivery of the first is still its duplicate.
    again = endpoint.post(
        client,
        channel,
        body,
        signed=True,
        headers={"HTTP_X_SHOPIFY_TOPIC": "orders/create", "HTTP_X_SHOPIFY_EVENT_ID": "e" * 299 + "1"},
    )
    assert again.json()["status"] == "duplicate"


def test_text_a_database_column_refuses_is_stored_escaped(client):
    endpoint = BY_NAME["woocommerce"]
    channel = endpoint.create()
    body = json.dumps({"id": "1\u0000\ud800", "date_modified_gmt": "2025-01-01T00:00:00"}).encode()
    response = endpoint.post(
        client, channel, body, signed=True, headers={"HTTP_X_WC_WEBHOOK_TOPIC": "order.updated\x00"}
    )
    assert response.status_code in (200, 400)
    event = ProcessedWebhookEvent.objects.get()
    assert "\\x00" in event.event_key and "\\ud800" in event.event_key
    assert event.topic == "order.updated\\x00"


def _hold_lock(statement: str, held: threading.Event, release: threading.Event) -> None:
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN IMMEDIATE" if other.vendor == "sqlite" else "BEGIN")
            cursor.execute(statement)
            held.set()
            release.wait(20)
            cursor.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_locked_table_is_answered_503_with_retry_after_within_three_seconds(client):
    endpoint = BY_NAME["shopify"]
    channel = endpoint.create()
    table = ProcessedWebhookEvent._meta.db_table
    statement = (
        f"INSERT INTO {table} (source, channel_id, topic, event_key, delivery_id, status, raw_body, headers, "
        "attempts, duplicate_count, error_message, ignored_reason, request_id, api_version, received_at, "
        f"updated_at) VALUES ('shopify', {channel.pk}, 't', 'k', '', 'IGNORED', '', '{{}}', 0, 0, '', '', "
        "'', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        if connection.vendor == "sqlite"
        else f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(statement, held, release))
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        response = endpoint.post(
            client,
            channel,
            fixture_bytes("shopify/webhooks/orders_create.json"),
            signed=True,
            headers={"HTTP_X_SHOPIFY_TOPIC": "orders/create", "HTTP_X_SHOPIFY_EVENT_ID": "e1"},
        )
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert elapsed < 4
    assert not ProcessedWebhookEvent.objects.filter(event_key__contains="e1").exists()


def test_the_database_bound_is_lifted_after_the_request():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    before = _timeouts()
    with database_wait_bounded():
        assert _timeouts() != before
    assert _timeouts() == before


def _timeouts() -> tuple:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout")
            return tuple(cursor.fetchone())
        cursor.execute("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
        return tuple(cursor.fetchone())


@pytest.mark.django_db(transaction=True)
def test_the_database_bound_is_lifted_after_an_autocommit_request_too(client):
    # A webhook request autocommits: the bound ends with each statement's own transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    before = _timeouts()
    with database_wait_bounded():
        assert _timeouts() != before
        assert _timeouts() != before  # every statement carries it, not only the first
    assert _timeouts() == before
    endpoint = BY_NAME["shopify"]
    channel = endpoint.create()
    body = fixture_bytes("shopify/webhooks/orders_create.json")
    headers = {"HTTP_X_SHOPIFY_TOPIC": "orders/create", "HTTP_X_SHOPIFY_EVENT_ID": "e1"}
    assert endpoint.post(client, channel, body, signed=True, headers=headers).status_code == 200
    assert _timeouts() == before


@pytest.mark.django_db(transaction=True)
def test_a_server_side_cursor_runs_bounded_too():
    channel = BY_NAME["shopify"].create()
    with database_wait_bounded():
        assert [c.pk for c in type(channel).objects.only("pk").iterator(chunk_size=10)] == [channel.pk]


@pytest.fixture
def server_side_binding():
    """The default connection binds parameters server-side (as a worker's does, config.settings),
    for this test only."""
    if connection.vendor != "postgresql":
        pytest.skip("server-side binding is psycopg's")
    options = connection.settings_dict["OPTIONS"]
    before = dict(options)
    connection.close()
    options["server_side_binding"] = True
    yield
    connection.close()
    options.clear()
    options.update(before)


@pytest.mark.django_db(transaction=True)
def test_a_statement_bound_server_side_in_a_callers_transaction_runs_bounded(server_side_binding):
    # Its bound's transaction is a savepoint here, whose own statements (bound server-side too)
    # come through the bound's wrapper: they once wrapped themselves again, to a RecursionError.
    channel = BY_NAME["shopify"].create()
    with transaction.atomic(), database_wait_bounded():
        assert type(channel).objects.filter(pk=channel.pk).count() == 1
        assert _timeouts() != ("0", "0")
