"""A batch's events run on several threads of the worker (PostgreSQL), each on its own connection:
each once, a poisoned one alone, and a stop loses none."""

import functools
import threading
import time

import pytest
from django.db import connection, transaction
from rq.timeouts import JobTimeoutException

from channels_app import drain
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
HELPER_RAN = threading.Event()
HELD = threading.Event()  # a helper is inside the held event's handler
RELEASE = threading.Event()  # the held event's handler may end
HELD_THEN: list[BaseException | None] = [None]  # what the held event raises once released


class Boom(BaseException):
    """What no handler's `except Exception` catches, as a stop."""


def on_jobs_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _record(event) -> None:
    with _runs_lock:
        RUNS.append((event.pk, threading.get_ident(), connection.connection.info.backend_pid))
    if not on_jobs_thread():
        HELPER_RAN.set()
    time.sleep(0.02)  # long enough for every thread to take a share


def slow_handler(event, fetched):
    _record(event)


def poisoned_on_helpers(event, fetched):
    _record(event)
    if event.payload.get("poison") and not on_jobs_thread():
        raise HandlerError("poisoned payload", permanent=True)


def stopped_on_the_jobs_thread(event, fetched):
    """The job's own thread is stopped at its first batch-mate, once a helper has run one; the
    exception is the payload's: rq's job timeout or the worker's shutdown."""
    _record(event)
    if on_jobs_thread() and not event.payload.get("lead") and not STOPPED.is_set():
        STOPPED.set()
        assert HELPER_RAN.wait(timeout=10)
        raise STOPS[event.payload["stop"]]("stopped")


def held_on_a_helper(event, fetched):
    """A helper holds the first event of its lane until released; the job's thread, at the first
    event of its own lane, is stopped meanwhile."""
    _record(event)
    if not event.payload.get("hold"):
        return
    if on_jobs_thread():
        assert HELD.wait(timeout=10)
        raise ShutdownTimeout("stopped")
    HELD.set()
    assert RELEASE.wait(timeout=10)
    if HELD_THEN[0] is not None:
        raise HELD_THEN[0]


def helper_dies(event, fetched):
    _record(event)
    if event.payload.get("poison") and not on_jobs_thread():
        raise Boom("a helper thread died")


STOPS = {"timeout": JobTimeoutException, "shutdown": ShutdownTimeout}


@pytest.fixture(autouse=True)
def postgresql_threads(settings):
    if connection.vendor != "postgresql":
        pytest.skip("one thread on SQLite (channels_app.drain.threads)")
    settings.HUB_WEBHOOK_BATCH_THREADS = 3
    RUNS.clear()
    for event in (STOPPED, HELPER_RAN, HELD, RELEASE):
        event.clear()
    HELD_THEN[0] = None
    yield
    RELEASE.set()  # a failed test leaves no helper waiting


@pytest.fixture
def handler(topic_handler):
    return functools.partial(topic_handler, topic=TOPIC)


def order_event(channel, order_id: int | None = None, **payload):
    """An event of its own order, unless `order_id` names one."""
    return queued_event(channel, topic=TOPIC, payload={"id": order_id or next(ORDER_IDS), **payload})


def ran() -> list[int]:
    return sorted(pk for pk, _, _ in RUNS)


def by_status(events) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for pk, status in ProcessedWebhookEvent.objects.filter(pk__in=[e.pk for e in events]).values_list(
        "pk", "status"
    ):
        found.setdefault(status, set()).add(pk)
    return found


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


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
    mate_runs = [run for run in RUNS if run[0] != first.pk]
    assert len({thread for _, thread, _ in mate_runs}) == 3  # the job's own thread and two helpers
    assert len({pid for _, _, pid in mate_runs}) == 3  # each on its own database connection
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
    assert len({thread for pk, thread, _ in RUNS if pk != first.pk}) > 1  # the orders side by side


def test_mates_failing_on_the_helpers_go_back_to_their_own_jobs_alone(handler, run_worker):
    handler(poisoned_on_helpers)
    channel = factories.shopify_channel()
    first = order_event(channel)
    mates = [order_event(channel, poison=True) for _ in range(9)]

    process_webhook_event(first.pk)

    on_helpers = {pk for pk, thread, _ in RUNS if thread != threading.main_thread().ident}
    assert on_helpers and on_helpers != {m.pk for m in mates}
    assert by_status(mates) == {
        EventStatus.ENQUEUED: on_helpers,  # each failed alone: its batch-mates ran on
        EventStatus.COMPLETED: {m.pk for m in mates} - on_helpers,
    }
    assert set(get_queue("webhooks").job_ids) == {first.job_id} | {
        m.job_id for m in mates if m.pk in on_helpers
    }
    run_worker("webhooks")  # each alone, on the job's own thread, where it succeeds
    assert event_statuses(mates) == [EventStatus.COMPLETED] * len(mates)
    assert all(ran().count(pk) == 2 for pk in on_helpers)


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_a_stop_on_the_jobs_thread_gives_back_what_it_ran_and_what_did_not_start(handler, run_worker, stop):
    handler(stopped_on_the_jobs_thread)
    channel = factories.shopify_channel()
    first = order_event(channel, lead=True)
    mates = [order_event(channel, stop=stop) for _ in range(20)]

    with pytest.raises(STOPS[stop]):
        process_webhook_event(first.pk)

    # The helpers finished the mates they had started; the interrupted one and those not started
    # are ENQUEUED with their own jobs; none is left PROCESSING for the sweeper.
    found = by_status(mates)
    assert set(found) == {EventStatus.COMPLETED, EventStatus.ENQUEUED}, found
    given_back, done = found[EventStatus.ENQUEUED], found[EventStatus.COMPLETED]
    assert {m.job_id for m in mates if m.pk in given_back} <= set(get_queue("webhooks").job_ids)
    run_worker("webhooks")
    assert event_statuses(mates) == [EventStatus.COMPLETED] * len(mates)
    # What a helper had finished ran once; only the interrupted mate ran twice (rolled back once).
    runs = ran()
    assert all(runs.count(pk) == 1 for pk in done)
    assert sum(runs.count(pk) for pk in given_back) == len(given_back) + 1


@pytest.mark.parametrize("then", ["finishes", "is stopped too"])
def test_a_helper_running_past_the_stop_keeps_its_event_and_the_rest_of_its_lane_goes_back(
    handler, monkeypatch, settings, then
):
    """The job's thread waits only so long for the helpers: the mate a helper still runs stays its
    own (to finish, or to give back itself if it is stopped too), the rest of its lane goes back."""
    handler(held_on_a_helper)
    settings.HUB_WEBHOOK_BATCH_THREADS = 2  # the job's thread and one helper: a lane each
    monkeypatch.setattr(drain, "HELPERS_STOP_WAIT_SECONDS", 0.2)
    HELD_THEN[0] = Boom("stopped too") if then == "is stopped too" else None
    channel = factories.shopify_channel()
    first = order_event(channel, lead=True)
    lanes = [[order_event(channel, order_id=n, hold=i == 0) for i in range(3)] for n in (77, 78)]

    with pytest.raises(ShutdownTimeout):
        process_webhook_event(first.pk)

    on_helper = {pk for pk, thread, _ in RUNS if thread != threading.main_thread().ident}
    (held, *behind), jobs_lane = lanes if lanes[0][0].pk in on_helper else lanes[::-1]
    assert by_status([*jobs_lane, held, *behind]) == {
        EventStatus.ENQUEUED: {event.pk for event in (*jobs_lane, *behind)},
        EventStatus.PROCESSING: {held.pk},  # still under way on its helper
    }
    RELEASE.set()
    wait_until(lambda: event_statuses([held]) != [EventStatus.PROCESSING])
    final = EventStatus.COMPLETED if then == "finishes" else EventStatus.ENQUEUED
    assert event_statuses([held, *behind]) == [final, EventStatus.ENQUEUED, EventStatus.ENQUEUED]
    expected_jobs = {first.job_id, *(event.job_id for event in (*jobs_lane, *behind))}
    if final == EventStatus.ENQUEUED:
        expected_jobs.add(held.job_id)  # given back by its helper, the job's thread having gone
    wait_until(lambda: set(get_queue("webhooks").job_ids) == expected_jobs)
    assert ran().count(held.pk) == 1 and not {event.pk for event in behind} & set(ran())


def test_a_helper_that_dies_stops_the_batch_and_the_rest_goes_back(handler, run_worker):
    handler(helper_dies)
    channel = factories.shopify_channel()
    first = order_event(channel)
    mates = [order_event(channel, poison=True) for _ in range(20)]

    with pytest.raises(Boom):
        process_webhook_event(first.pk)

    found = by_status(mates)
    assert EventStatus.PROCESSING not in found
    given_back = found[EventStatus.ENQUEUED]
    # More than the helpers' own: the job's thread stopped starting mates too.
    assert len(given_back) > 2
    assert {m.job_id for m in mates if m.pk in given_back} <= set(get_queue("webhooks").job_ids)
    handler(slow_handler)
    run_worker("webhooks")
    assert event_statuses(mates) == [EventStatus.COMPLETED] * len(mates)


def test_the_budget_ends_lanes_part_way_each_done_part_in_order_and_the_rest_given_back(
    handler, monkeypatch, run_worker
):
    handler(slow_handler)
    monkeypatch.setattr(drain, "BUDGET_SECONDS", 0.1)
    channel = factories.shopify_channel()
    first = order_event(channel)
    lanes = {
        order_id: [order_event(channel, order_id=order_id) for _ in range(6)] for order_id in (41, 42, 43, 44)
    }
    mates = [event for lane in lanes.values() for event in lane]

    process_webhook_event(first.pk)

    found = by_status(mates)
    assert set(found) == {EventStatus.COMPLETED, EventStatus.ENQUEUED}, found
    for lane in lanes.values():
        statuses = event_statuses(lane)
        done = statuses.count(EventStatus.COMPLETED)
        assert statuses == [EventStatus.COMPLETED] * done + [EventStatus.ENQUEUED] * (len(lane) - done)
    assert {m.job_id for m in mates if m.pk in found[EventStatus.ENQUEUED]} <= set(
        get_queue("webhooks").job_ids
    )
    run_worker("webhooks")
    assert event_statuses(mates) == [EventStatus.COMPLETED] * len(mates)
    assert ran() == sorted(event.pk for event in (first, *mates))  # nothing ran twice
