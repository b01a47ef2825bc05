"""A batch's events run on several threads of the worker (PostgreSQL), each on its own connection:
each once, a poisoned one alone, and a stop loses none."""

import threading
import time

import pytest
from django.db import connection, transaction

from channels_app import drain, handlers
from channels_app.jobs import process_webhook_event
from channels_app.models import EventStatus, ProcessedWebhookEvent
from channels_app.outcomes import HandlerError
from config import workers
from config.queues import get_queue
from config.workers import ShutdownTimeout
from tests.channels_app import factories
from tests.channels_app.factories import event_statuses, queued_event

pytestmark = pytest.mark.django_db(transaction=True)

TOPIC = "orders/test"  # an order's topic: its events are lanes by the order's id (payload "id")
ORDER_IDS = iter(range(1000, 10**6))
RUNS: list[tuple[int, int, int]] = []  # (event, thread, database backend pid)
_runs_lock = threading.Lock()
STOPPED = threading.Event()


class Boom(BaseException):
    """What no handler's `except Exception` catches, as a job timeout or a stop."""


def _record(event) -> None:
    with _runs_lock:
        RUNS.append((event.pk, threading.get_ident(), connection.connection.info.backend_pid))
    time.sleep(0.02)  # long enough for every thread to take a share


def slow_handler(event, fetched):
    _record(event)
    if event.payload.get("poison"):
        raise HandlerError("poisoned payload", permanent=True)


def stopped_on_the_jobs_thread(event, fetched):
    """The job's own thread is stopped (as by a job timeout) at its first batch-mate."""
    _record(event)
    on_jobs_thread = threading.current_thread() is threading.main_thread()
    if on_jobs_thread and not event.payload.get("lead") and not STOPPED.is_set():
        STOPPED.set()
        raise ShutdownTimeout("worker shut down before the job finished; it will run again")


def plain_handler(event, fetched):
    _record(event)


def helper_dies(event, fetched):
    _record(event)
    if event.payload.get("poison") and threading.current_thread() is not threading.main_thread():
        raise Boom("a helper thread died")


@pytest.fixture(autouse=True)
def postgresql_threads(settings):
    if connection.vendor != "postgresql":
        pytest.skip("one thread on SQLite (channels_app.drain.threads)")
    settings.HUB_WEBHOOK_BATCH_THREADS = 3
    RUNS.clear()
    STOPPED.clear()


@pytest.fixture
def handler(monkeypatch):
    def register(func):
        monkeypatch.setitem(
            handlers.HANDLERS,
            ("shopify", TOPIC),
            handlers.Handler(apply=f"{__name__}.{func.__name__}"),
        )
        handlers.handler_for.cache_clear()

    yield register
    handlers.handler_for.cache_clear()


def order_event(channel, order_id: int | None = None, **payload):
    """An event of its own order, unless `order_id` names one."""
    return queued_event(channel, topic=TOPIC, payload={"id": order_id or next(ORDER_IDS), **payload})


def ran() -> list[int]:
    return sorted(pk for pk, _, _ in RUNS)


def test_threads_are_the_settings_outside_a_transaction_and_one_inside_or_in_a_forked_child(monkeypatch):
    assert drain.threads() == 3
    with transaction.atomic():
        assert drain.threads() == 1  # a caller's rows: the helpers' connections could not see them
    monkeypatch.setattr(workers, "_forked_child", True)
    assert drain.threads() == 1


def test_a_batch_runs_on_every_thread_each_on_its_connection_each_event_once(handler, run_worker):
    handler(slow_handler)
    channel = factories.shopify_channel()
    first, *mates = [order_event(channel) for _ in range(12)]

    assert process_webhook_event(first.pk) == EventStatus.COMPLETED

    assert ran() == sorted(event.pk for event in (first, *mates))  # each once
    assert event_statuses(mates) == [EventStatus.COMPLETED] * len(mates)
    threads = {thread for _, thread, _ in RUNS}
    assert len(threads) == 3  # the job's own thread and two helpers
    assert len({pid for _, _, pid in RUNS}) == 3  # each on its own database connection
    assert get_queue("webhooks").job_ids == [first.job_id]  # the mates' jobs were withdrawn
    run_worker("webhooks")
    assert ran() == sorted(event.pk for event in (first, *mates))  # nothing ran twice


def test_the_events_of_one_order_run_in_order_on_one_thread(handler):
    handler(slow_handler)
    channel = factories.shopify_channel()
    first = order_event(channel)
    mates = [order_event(channel, order_id=(7, 8, 9)[n % 3]) for n in range(12)]

    process_webhook_event(first.pk)

    assert event_statuses(mates) == [EventStatus.COMPLETED] * len(mates)
    for order_id in (7, 8, 9):
        events = [mate.pk for mate in mates if mate.payload["id"] == order_id]
        runs = [(pk, thread) for pk, thread, _ in RUNS if pk in events]
        assert [pk for pk, _ in runs] == events  # in the order they came
        assert len({thread for _, thread in runs}) == 1  # one after the other, on one thread
    assert len({thread for _, thread, _ in RUNS}) > 1  # the three orders ran side by side


def test_a_poisoned_mate_on_a_helper_goes_back_to_its_own_job_alone(handler, run_worker):
    handler(slow_handler)
    channel = factories.shopify_channel()
    first = order_event(channel)
    mates = [order_event(channel, poison=n == 4) for n in range(8)]
    poisoned = mates[4]

    process_webhook_event(first.pk)

    assert event_statuses(mates) == [
        EventStatus.ENQUEUED if m == poisoned else EventStatus.COMPLETED for m in mates
    ]
    assert get_queue("webhooks").job_ids == [first.job_id, poisoned.job_id]
    run_worker("webhooks")
    poisoned.refresh_from_db()
    assert (poisoned.status, poisoned.error_message) == (EventStatus.FAILED, "HandlerError: poisoned payload")
    assert ran().count(poisoned.pk) == 2  # in the batch, then alone by its own job


def test_a_stop_on_the_jobs_thread_gives_back_what_it_ran_and_what_did_not_start(handler, run_worker):
    handler(stopped_on_the_jobs_thread)
    channel = factories.shopify_channel()
    first = order_event(channel, lead=True)
    mates = [order_event(channel) for _ in range(20)]

    with pytest.raises(ShutdownTimeout):
        process_webhook_event(first.pk)

    by_status: dict[str, set[int]] = {}
    for pk, status in ProcessedWebhookEvent.objects.filter(pk__in=[m.pk for m in mates]).values_list(
        "pk", "status"
    ):
        by_status.setdefault(status, set()).add(pk)
    # The helpers finished the mates they had started; the interrupted one and those not started
    # are ENQUEUED with their own jobs; none is left PROCESSING for the sweeper.
    assert set(by_status) == {EventStatus.COMPLETED, EventStatus.ENQUEUED}, by_status
    given_back = by_status[EventStatus.ENQUEUED]
    assert {m.job_id for m in mates if m.pk in given_back} <= set(get_queue("webhooks").job_ids)
    done = by_status[EventStatus.COMPLETED]
    run_worker("webhooks")
    assert event_statuses(mates) == [EventStatus.COMPLETED] * len(mates)
    # What a helper had finished ran once; only the interrupted mate ran twice (rolled back once).
    runs = ran()
    assert all(runs.count(pk) == 1 for pk in done)
    assert sum(runs.count(pk) for pk in given_back) == len(given_back) + 1


def test_a_helper_that_dies_stops_the_batch_and_the_rest_goes_back(handler, run_worker):
    handler(helper_dies)
    channel = factories.shopify_channel()
    first = order_event(channel)
    mates = [order_event(channel, poison=True) for _ in range(20)]

    with pytest.raises(Boom):
        process_webhook_event(first.pk)

    assert ProcessedWebhookEvent.objects.filter(status=EventStatus.PROCESSING).count() == 0
    given_back = list(ProcessedWebhookEvent.objects.filter(status=EventStatus.ENQUEUED))
    assert given_back  # the helpers' mates, at least
    assert {event.job_id for event in given_back} <= set(get_queue("webhooks").job_ids)
    handler(plain_handler)
    run_worker("webhooks")
    assert event_statuses(mates) == [EventStatus.COMPLETED] * len(mates)
