"""Commerce events → automations → delivery, through the three messaging queues."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from messaging.consent import consent_record
from messaging.events import event_evaluate, event_normalize
from messaging.models import (
    Automation,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    OutboxRecord,
)
from orders.fulfillments import fulfillment_create
from orders.services import LineData, OrderData, order_sync

pytestmark = pytest.mark.django_db(transaction=True)
QUEUES = ("messaging-events", "messaging-automations", "messaging-delivery")


def paid_order(channel, *, status="paid", total="80.00", external_id="1001"):
    data = OrderData(
        external_id=external_id,
        number=f"#{external_id}",
        customer_name="Wile E. Coyote",
        phone="(415) 555-0123",
        shipping_address={"country_code": "US", "city": "Desert"},
        financial_status=status,
        total=Decimal(total),
        lines=(LineData("1", 1, 1),),
    )
    return order_sync(channel=channel, data=data).order


def automation(channel, trigger, template, **fields):
    return Automation.objects.create(
        organization=channel.organization, name=trigger, trigger=trigger, template=template, **fields
    )


def opted_in(channel):
    contact = Contact.objects.create(organization=channel.organization, phone="+14155550123", name="Wile")
    consent_record(contact, ConsentState.OPTED_IN, source="checkout")
    return contact


def test_an_order_paid_sends_its_automation_once_with_the_order_in_the_template(channel, run_worker):
    opted_in(channel)
    automation(
        channel, "order_paid", "Thanks {{ order.customer_name }}! Order {{ order.number }}: {{ order.total }}"
    )
    order = paid_order(channel, status="pending")
    run_worker(*QUEUES)
    assert not Message.objects.exists()  # pending is not paid

    paid_order(channel)  # paid now
    paid_order(channel)  # the same update again: no second event
    run_worker(*QUEUES)

    message = Message.objects.get()
    assert message.status == MessageStatus.SENT and message.event_key == f"order_paid:order-{order.pk}"
    assert OutboxRecord.objects.get().body == "Thanks Wile E. Coyote! Order #1001: 80.00"


def test_shipped_is_transactional_and_conditions_select_orders(channel, run_worker):
    contact = opted_in(channel)
    automation(channel, "fulfillment_shipped", "Shipped: {{ tracking.url }}")
    automation(channel, "order_paid", "Big spender", conditions={"min_total": "100.00"})
    order = paid_order(channel)
    fulfillment_create(
        order_id=order.pk, tracking_number="1Z999", carrier="UPS", url="https://ups.example/1Z999"
    )
    run_worker(*QUEUES)

    message = Message.objects.get()
    assert message.transactional and message.contact == contact
    assert OutboxRecord.objects.get().body == "Shipped: https://ups.example/1Z999"


def test_the_same_event_evaluated_twice_makes_one_message(channel, run_worker):
    opted_in(channel)
    automation(channel, "order_paid", "Thanks")
    order = paid_order(channel)
    event = event_normalize("order_paid", order.pk, None)
    assert event is not None
    assert event_evaluate(event) + event_evaluate(event) <= 1
    run_worker(*QUEUES)
    assert Message.objects.count() == 1


def test_an_order_without_a_usable_phone_makes_no_contact(channel):
    order = paid_order(channel)
    order.phone = "n/a"
    order.save()
    assert event_normalize("order_paid", order.pk, None) is None


def test_a_contact_made_from_an_order_has_no_consent_and_is_suppressed(channel, run_worker):
    automation(channel, "order_paid", "Thanks")
    paid_order(channel)
    run_worker(*QUEUES)
    message = Message.objects.get()
    assert (message.status, message.suppression_reason) == (MessageStatus.SUPPRESSED, "no_consent")
    assert message.contact.phone == "+14155550123" and message.contact.name == "Wile E. Coyote"


def test_an_event_whose_order_committed_while_redis_was_down_is_sent_by_the_sweep(
    channel, run_worker, settings, caplog
):
    from config.queues import get_queue, rq_queues
    from messaging.events import events_sweep
    from orders.models import CommerceEvent

    opted_in(channel)
    automation(channel, "order_paid", "Thanks for order {{ order.number }}")
    real_queues = settings.RQ_QUEUES
    settings.RQ_QUEUES = rq_queues("redis://127.0.0.1:1/0", sentinels=[], sentinel_master="")
    get_queue.cache_clear()
    try:
        order = paid_order(channel)  # the order commits; its event cannot be enqueued
    finally:
        settings.RQ_QUEUES = real_queues
        get_queue.cache_clear()
    assert "ConnectionError" in caplog.text
    event = CommerceEvent.objects.get()
    assert event.key == f"order_paid:order-{order.pk}" and event.forwarded_at is None
    assert events_sweep() == 0  # not yet: its job may still be on its way

    CommerceEvent.objects.update(created_at=event.created_at - timedelta(minutes=5))
    assert events_sweep() == 1
    run_worker(*QUEUES)

    assert OutboxRecord.objects.get().body == "Thanks for order #1001"
    assert CommerceEvent.objects.get().forwarded_at is not None
    assert events_sweep() == 0
