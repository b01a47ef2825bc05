from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.clients import credentials_problem
from orders.fulfillments import FulfillmentError, fulfillment_create
from orders.models import Order


class Command(BaseCommand):
    help = (
        "Record a shipment of an order and push it to the order's channel (on the fulfillment queue): "
        "Shopify fulfillmentCreate with tracking, WooCommerce completed + a tracking note, Shopee ship."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("order_id", type=int)
        parser.add_argument("--tracking", required=True, help="Tracking number.")
        parser.add_argument("--carrier", required=True, help="Carrier (tracking company), e.g. UPS.")
        parser.add_argument("--url", default="", help="Tracking URL.")

    def handle(self, *args: Any, **options: Any) -> None:
        order = Order.objects.select_related("channel").filter(pk=options["order_id"]).first()
        # Checked before anything is recorded: a push without the channel's credentials would be
        # "queued" here, then fail for good on the worker, where nobody running this command looks.
        problem = credentials_problem(order.channel) if order is not None else ""
        if problem:
            raise CommandError(f"cannot push a fulfillment of order {order}: {problem}")
        try:
            fulfillment = fulfillment_create(
                order_id=options["order_id"],
                tracking_number=options["tracking"],
                carrier=options["carrier"],
                url=options["url"],
            )
        except FulfillmentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"fulfillment {fulfillment.pk} of order {options['order_id']} queued for its channel"
        )
