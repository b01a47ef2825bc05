"""What an order costs the database: the same statements for one line as for five, and nothing
written again for a line the platform sent unchanged."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory.models import Reservation, ReservationStatus
from orders.models import OrderItem
from orders.services import OrderData, order_sync
from tests.channels_app import factories
from tests.inventory.factories import assert_invariants, level, sku, warehouse
from tests.orders.factories import line

pytestmark = pytest.mark.django_db

PAID_AT = datetime(2026, 12, 1, 10, tzinfo=UTC)


@pytest.fixture
def shop():
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    skus = [sku(channel.organization, f"Q-{n}", on_hand=100, at=main) for n in range(5)]
    return channel, main, skus


def paid(external_id: str, lines: int, **fields) -> OrderData:
    return OrderData(
        external_id=external_id,
        financial_status="paid",
        updated_at=fields.pop("updated_at", PAID_AT),
        lines=tuple(line(f"{external_id}-{n}", 1, sku_code=f"Q-{n}") for n in range(lines)),
        **fields,
    )


def statements(channel, data: OrderData) -> list[str]:
    """The statements `order_sync` runs in a handler's transaction (BEGIN and COMMIT aside)."""
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        order_sync(channel=channel, data=data)
    return [query["sql"] for query in queries.captured_queries]


def test_a_new_order_costs_the_same_statements_for_five_lines_as_for_one(shop):
    channel, main, skus = shop
    one = statements(channel, paid("1001", lines=1))
    five = statements(channel, paid("1005", lines=5))
    assert len(five) == len(one)
    # Each line reserved: one statement locks every level, one writes every reservation.
    assert sum(sql.startswith("SELECT") and 'FROM "inventory_stocklevel"' in sql for sql in five) == 1
    assert sum(sql.startswith('INSERT INTO "inventory_reservation"') for sql in five) == 1
    assert [level(item, main).reserved for item in skus] == [2, 1, 1, 1, 1]
    assert Reservation.objects.filter(status=ReservationStatus.OPEN).count() == 6
    assert_invariants()


def test_a_redelivered_order_writes_no_line_and_holds_nothing_twice(shop):
    channel, main, skus = shop
    statements(channel, paid("2001", lines=3))
    again = statements(channel, paid("2001", lines=3, updated_at=PAID_AT.replace(minute=5)))
    assert not [sql for sql in again if "orders_orderitem" in sql and not sql.startswith("SELECT")]
    assert not [sql for sql in again if sql.startswith(("INSERT", "UPDATE")) and "inventory_" in sql]
    assert [level(item, main).reserved for item in skus] == [1, 1, 1, 0, 0]
    assert OrderItem.objects.count() == 3
    assert_invariants()


def test_a_changed_line_is_written_and_held_anew(shop):
    channel, main, skus = shop
    statements(channel, paid("3001", lines=2))
    changed = paid("3001", lines=2, updated_at=PAID_AT.replace(minute=5))
    changed = OrderData(
        **{**changed.__dict__, "lines": (changed.lines[0], line("3001-1", 4, sku_code="Q-1"))}
    )
    statements(channel, changed)
    assert [level(item, main).reserved for item in skus[:2]] == [1, 4]
    assert list(OrderItem.objects.order_by("external_line_id").values_list("quantity", flat=True)) == [1, 4]
    assert Reservation.objects.filter(status=ReservationStatus.RELEASED).count() == 1
    assert_invariants()
