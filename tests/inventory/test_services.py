import threading

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

from inventory.models import Reservation, ReservationStatus, StockMovement
from inventory.services import (
    ReservationRequest,
    reservation_consume,
    reservation_release,
    stock_locked,
    stock_move,
    stock_reserve,
    stock_set,
)
from tests.channels_app import factories
from tests.inventory.factories import assert_invariants, level, sku, warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return factories.organization()


def test_every_change_writes_the_level_and_its_ledger_row(org):
    main = warehouse(org)
    item = sku(org, "A")
    stock_move(sku_id=item.pk, warehouse_id=main.pk, quantity=5, reason="import", reference="csv:1")
    stock_set(sku_id=item.pk, warehouse_id=main.pk, on_hand=3, reason="channel", reference="event:9")
    assert stock_set(sku_id=item.pk, warehouse_id=main.pk, on_hand=3, reason="channel") is None
    assert level(item, main).on_hand == 3
    assert list(StockMovement.objects.values_list("quantity", "on_hand_after", "reason", "reference")) == [
        (5, 5, "import", "csv:1"),
        (-2, 3, "channel", "event:9"),
    ]
    assert_invariants()


def test_reserve_release_and_consume(org):
    main = warehouse(org)
    item = sku(org, "A", on_hand=5, at=main)
    request = ReservationRequest("order-item:1", item.pk, main.pk, 2)
    first = stock_reserve(request)
    assert stock_reserve(request) == first  # a replay holds nothing more
    assert (level(item, main).reserved, level(item, main).available) == (2, 3)
    assert reservation_consume(reference="order-item:1")
    assert not reservation_consume(reference="order-item:1")
    assert (level(item, main).on_hand, level(item, main).reserved) == (3, 0)
    stock_reserve(ReservationRequest("order-item:2", item.pk, main.pk, 1))
    assert reservation_release(reference="order-item:2")
    assert not reservation_release(reference="order-item:2")
    assert (level(item, main).on_hand, level(item, main).reserved) == (3, 0)
    assert Reservation.objects.get(reference="order-item:2").status == ReservationStatus.RELEASED
    assert_invariants()


def test_not_enough_stock_reserves_nothing_unless_backorders_are_allowed(org):
    main = warehouse(org)
    item = sku(org, "A", on_hand=1, at=main)
    assert stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 2)) is None
    assert level(item, main).reserved == 0
    assert stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 2), allow_backorder=True)
    assert level(item, main).available == -1
    assert_invariants()


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_for_the_last_units_reserve_them_exactly_once(org):
    main = warehouse(org)
    item = sku(org, "LAST", on_hand=3, at=main)
    start = threading.Barrier(6)
    results = []
    errors: list[BaseException] = []

    def reserve(n: int) -> None:
        start.wait()
        try:
            results.append(stock_reserve(ReservationRequest(f"order-item:{n}", item.pk, main.pk, 1)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 6
    assert sum(r is not None for r in results) == 3
    assert (level(item, main).reserved, level(item, main).available) == (3, 0)
    assert_invariants()


def test_a_changed_line_releases_its_old_reservation_and_reserves_anew(org):
    main = warehouse(org)
    item = sku(org, "A", on_hand=5, at=main)
    stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 2))
    stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 3))  # the line was edited
    assert level(item, main).reserved == 3
    assert list(Reservation.objects.order_by("pk").values_list("quantity", "status")) == [
        (2, ReservationStatus.RELEASED),
        (3, ReservationStatus.OPEN),
    ]
    assert stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 9)) is None  # too many now
    assert level(item, main).reserved == 3  # what the line held stays held; it is flagged instead
    assert stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 5))  # its own 3 count
    assert level(item, main).reserved == 5
    assert_invariants()


def test_a_released_line_can_be_held_again_but_consumed_units_are_not(org):
    main = warehouse(org)
    item = sku(org, "A", on_hand=5, at=main)
    stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 1))
    reservation_release(reference="order-item:1")  # cancelled
    assert stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 1))  # un-cancelled
    assert level(item, main).reserved == 1
    reservation_consume(reference="order-item:1")
    consumed = stock_reserve(ReservationRequest("order-item:1", item.pk, main.pk, 1))
    assert consumed.status == ReservationStatus.CONSUMED
    assert (level(item, main).on_hand, level(item, main).reserved) == (4, 0)
    assert_invariants()


@pytest.mark.django_db(transaction=True)
def test_locked_stock_changes_only_levels_it_locked_and_only_in_a_transaction(org):
    main = warehouse(org)
    held, other = sku(org, "A", on_hand=5, at=main), sku(org, "B", on_hand=5, at=main)
    with pytest.raises(TransactionManagementError), stock_locked([(held.pk, main.pk)]):
        pass
    with transaction.atomic(), stock_locked([(held.pk, main.pk)]) as stock:
        stock.move(sku_id=held.pk, warehouse_id=main.pk, quantity=-1, reason="adjustment")
        with pytest.raises(LookupError, match="not locked"):
            stock.move(sku_id=other.pk, warehouse_id=main.pk, quantity=-1, reason="adjustment")
    assert (level(held, main).on_hand, level(other, main).on_hand) == (4, 5)
    assert_invariants()


def test_a_reservation_made_and_released_in_one_block_is_written_released(org):
    main = warehouse(org)
    item = sku(org, "A", on_hand=5, at=main)
    request = ReservationRequest("order-item:7", item.pk, main.pk, 2)
    with transaction.atomic(), stock_locked([(item.pk, main.pk)], [request.reference]) as stock:
        stock.reserve(request)
        assert stock.release(request.reference)
        assert not stock.release(request.reference)
    assert list(Reservation.objects.values_list("reference", "status")) == [("order-item:7", "released")]
    assert level(item, main).reserved == 0
    assert_invariants()
