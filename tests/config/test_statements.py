"""The hand-written statements of the hot paths store and read what the ORM would."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from config.statements import insert_all, insert_new, select
from orders.models import Order, OrderItem
from tests.channels_app import factories

pytestmark = pytest.mark.django_db

PAID_AT = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


def new_order(channel, external_id: str) -> Order:
    return Order(
        channel=channel,
        organization_id=channel.organization_id,
        external_id=external_id,
        shipping_address={"city": "Lyon", "lines": ["1 rue Ney"]},
        total=Decimal("12.50"),
        platform_updated_at=PAID_AT,
    )


def test_a_new_row_is_inserted_once_and_reads_back_as_the_orm_stores_it():
    channel = factories.shopify_channel()
    order = new_order(channel, "1001")

    assert insert_new(order, unique=["channel", "external_id"]) is True
    assert insert_new(new_order(channel, "1001"), unique=["channel", "external_id"]) is False

    stored = Order.objects.get(pk=order.pk)  # read by the ORM
    assert (stored.shipping_address, stored.total, stored.platform_updated_at) == (
        {"city": "Lyon", "lines": ["1 rue Ney"]},
        Decimal("12.50"),
        PAID_AT,
    )
    assert stored.created_at is not None and stored.created_at == order.created_at  # auto_now_add, as save()
    assert not order._state.adding and Order.objects.count() == 1


def test_many_rows_go_in_batches_and_each_instance_gets_its_own_pk():
    channel = factories.shopify_channel()
    order = new_order(channel, "2001")
    order.save()
    items = [OrderItem(order=order, external_line_id=f"L{n}", quantity=n + 1) for n in range(1200)]

    insert_all(items)  # over SQLite's 999-variable batches of old, and the ORM's own batch size

    stored = dict(OrderItem.objects.values_list("pk", "quantity"))
    assert len(stored) == 1200
    assert [stored[item.pk] for item in items] == [n + 1 for n in range(1200)]
    insert_all([])  # nothing to do, no statement


def test_select_gives_instances_converted_as_the_orm_reads_them_that_save_like_any_other():
    channel = factories.shopify_channel()
    insert_new(new_order(channel, "3001"), unique=["channel", "external_id"])

    with transaction.atomic():
        (locked,) = select(Order, "WHERE external_id = %s", ["3001"], for_update=True)
        assert locked.shipping_address["lines"] == ["1 rue Ney"] and locked.total == Decimal("12.50")
        assert locked.platform_updated_at == PAID_AT and locked.channel_id == channel.pk
        locked.total = Decimal("13.00")
        locked.save(update_fields=["total"])  # a model instance like any other
    assert select(Order, "WHERE external_id = %s", ["none"]) == []
    assert Order.objects.get().total == Decimal("13.00")
