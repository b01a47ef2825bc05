"""What channels_app's failed jobs were for, for the ops console's failed-jobs page (named by
dotted path in config.ops.failed_jobs.SUBJECTS)."""

from collections.abc import Iterable
from typing import Any

from django.db.models.fields.json import KT
from django.urls import reverse

from channels_app.models import ProcessedWebhookEvent, SyncRun
from channels_app.models.events import order_reference_path
from config.ops.failed_jobs import Subject
from orders.models import Order


def webhook_job_subjects(event_ids: Iterable[object]) -> dict[object, Subject]:
    """What webhook jobs were for, for the failed-jobs page: their event, channel and order, in
    two queries (the order's platform id is read from the payload by the database)."""
    events = (
        ProcessedWebhookEvent.objects.filter(pk__in=[pk for pk in event_ids if isinstance(pk, int)])
        .select_related("channel")
        .only("pk", "source", "topic", "channel__name", "channel__platform", "channel__shop_identifier")
        .annotate(
            payload_id=KT("payload__id"),
            payload_order_id=KT("payload__order_id"),
            ordersn=KT("payload__data__ordersn"),
        )
    )
    refs = {event.pk: _order_reference(event) for event in events}
    orders = {
        (order.channel_id, order.external_id): order
        for order in Order.objects.filter(
            channel__in={event.channel_id for event in events}, external_id__in=set(refs.values()) - {""}
        ).only("pk", "channel_id", "external_id", "number")
    }
    subjects: dict[object, Subject] = {}
    for event in events:
        channel, ref = event.channel, refs[event.pk]
        links = [
            (
                f"event {event.pk} ({event.topic})",
                reverse("admin:channels_app_processedwebhookevent_change", args=[event.pk]),
            ),
            (str(channel), reverse("admin:channels_app_channel_change", args=[channel.pk])),
        ]
        terms = [channel.shop_identifier, channel.name, ref]
        order = orders.get((channel.pk, ref))
        if order is not None:
            links.append(
                (
                    f"order {order.number or order.external_id}",
                    reverse("admin:orders_order_change", args=[order.pk]),
                )
            )
            terms.append(order.number)
        subjects[event.pk] = Subject(
            links=tuple(links), channel_id=channel.pk, search_terms=tuple(t for t in terms if t)
        )
    return subjects


def sync_job_subjects(run_ids: Iterable[object]) -> dict[object, Subject]:
    """What sync jobs were for: their run and its channel."""
    runs = SyncRun.objects.filter(pk__in=[pk for pk in run_ids if isinstance(pk, int)]).select_related(
        "channel"
    )
    return {
        run.pk: Subject(
            links=(
                (str(run), reverse("admin:channels_app_syncrun_change", args=[run.pk])),
                (str(run.channel), reverse("admin:channels_app_channel_change", args=[run.channel_id])),
            ),
            channel_id=run.channel_id,
            search_terms=(run.channel.shop_identifier, run.channel.name),
        )
        for run in runs
    }


def _order_reference(event: Any) -> str:
    """The platform's order id an event is about, or "" (a product or stock event)."""
    read = {
        ("data", "ordersn"): event.ordersn,
        ("id",): event.payload_id,
        ("order_id",): event.payload_order_id,
    }
    ref = read.get(order_reference_path(event.source, event.topic) or ())
    # Some databases give the id as a JSON number, others as text: it is shown as text.
    return "" if ref is None else str(ref)
