"""Commerce events: said twice, one row and one signal."""

import pytest

from orders.events import commerce_event_record, commerce_event_recorded
from orders.models import CommerceEvent, CommerceEventKind
from tests.channels_app import factories
from tests.orders.factories import order

pytestmark = pytest.mark.django_db


def test_an_event_said_twice_is_recorded_and_announced_once():
    paid = order(factories.shopify_channel())
    heard = []

    def listener(sender, *, event, **kwargs):
        heard.append((event.pk, event.key))

    commerce_event_recorded.connect(listener)
    try:
        for _ in range(2):
            commerce_event_record(kind=CommerceEventKind.ORDER_CANCELLED, order_id=paid.pk)
            commerce_event_record(
                kind=CommerceEventKind.FULFILLMENT_CREATED, order_id=paid.pk, fulfillment_id=7
            )
    finally:
        commerce_event_recorded.disconnect(listener)
    rows = list(CommerceEvent.objects.order_by("pk").values_list("pk", "key", "kind", "fulfillment_id"))
    assert heard == [(pk, key) for pk, key, _, _ in rows]
    assert [row[1:] for row in rows] == [
        (f"order_cancelled:order-{paid.pk}", "order_cancelled", None),
        (f"fulfillment_created:order-{paid.pk}:fulfillment-7", "fulfillment_created", 7),
    ]
