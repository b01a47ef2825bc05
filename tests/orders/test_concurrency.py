"""Orders touching the same stock levels in opposite line orders, at the same time."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from orders.services import LineData, OrderData, order_sync
from tests.channels_app import factories
from tests.inventory.factories import assert_invariants, level, sku, warehouse

ROUNDS = 15


@pytest.mark.django_db(transaction=True)
def test_multi_line_orders_in_opposite_orders_never_deadlock():
    channel = factories.shopify_channel()
    main = warehouse(channel.organization)
    a = sku(channel.organization, "A", on_hand=1000, at=main)
    b = sku(channel.organization, "B", on_hand=1000, at=main)
    errors: list[BaseException] = []

    def order(n: int, codes: tuple[str, str]) -> None:
        lines = tuple(LineData(f"{n}-{code}", 1, Decimal(1), sku_code=code) for code in codes)
        try:
            order_sync(
                channel=channel, data=OrderData(external_id=str(n), financial_status="paid", lines=lines)
            )
        except BaseException as exc:  # a deadlock would surface here
            errors.append(exc)
        finally:
            connection.close()

    for round_ in range(ROUNDS):
        start = threading.Barrier(2)

        def run(n: int, codes: tuple[str, str], start: threading.Barrier = start) -> None:
            start.wait()
            order(n, codes)

        threads = [
            threading.Thread(target=run, args=(2 * round_, ("A", "B"))),
            threading.Thread(target=run, args=(2 * round_ + 1, ("B", "A"))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert (level(a, main).reserved, level(b, main).reserved) == (2 * ROUNDS, 2 * ROUNDS)
    assert_invariants()
