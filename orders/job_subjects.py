"""What orders' failed jobs were for, for the ops console's failed-jobs page (named by dotted
path in config.ops.failed_jobs.SUBJECTS)."""

from collections.abc import Iterable

from django.urls import reverse

from config.ops.failed_jobs import Subject
from orders.models import Fulfillment


def fulfillment_job_subjects(fulfillment_ids: Iterable[object]) -> dict[object, Subject]:
    """What fulfillment pushes were for, for the failed-jobs page: the order and its channel."""
    fulfillments = Fulfillment.objects.filter(
        pk__in=[pk for pk in fulfillment_ids if isinstance(pk, int)]
    ).select_related("order__channel")
    subjects: dict[object, Subject] = {}
    for fulfillment in fulfillments:
        order, channel = fulfillment.order, fulfillment.order.channel
        subjects[fulfillment.pk] = Subject(
            links=(
                (
                    f"order {order.number or order.external_id}",
                    reverse("admin:orders_order_change", args=[order.pk]),
                ),
                (str(channel), reverse("admin:channels_app_channel_change", args=[channel.pk])),
            ),
            channel_id=channel.pk,
            search_terms=(
                channel.shop_identifier,
                channel.name,
                order.number,
                order.external_id,
                fulfillment.tracking_number,
            ),
        )
    return subjects
