import time
import uuid
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from channels_app.intake import queue_for
from channels_app.job_subjects import webhook_job_subjects
from channels_app.models import Channel, EventStatus, ProcessedWebhookEvent
from channels_app.platforms import simulation
from channels_app.platforms.aftership import simulator as aftership
from channels_app.platforms.easypost import simulator as easypost
from channels_app.platforms.shopee import simulator as shopee
from channels_app.platforms.shopify import simulator as shopify
from channels_app.platforms.twilio import simulator as twilio
from channels_app.platforms.woocommerce import simulator as woocommerce

SIMULATORS = {
    "shopify": shopify,
    "woocommerce": woocommerce,
    "shopee": shopee,
    "twilio": twilio,
    "easypost": easypost,
    "aftership": aftership,
}
UNFINISHED = (EventStatus.ENQUEUED, EventStatus.PROCESSING)


class Command(BaseCommand):
    help = (
        "Send the running hub a webhook as the channel's platform would: a sample payload of the "
        "topic, signed with the channel's secret, POSTed to WEBHOOK_BASE_URL (or --url). Prints the "
        "answer, the event it made and where to see it in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel", help="The channel's id, or its shop (domain, site URL, shop id, SID).")
        parser.add_argument("topic", help="e.g. orders/paid (Shopify), order.created (WooCommerce).")
        parser.add_argument("--url", default="", help="Where the hub listens (default: WEBHOOK_BASE_URL).")
        parser.add_argument(
            "--wait", type=float, default=10, help="Seconds to wait for a worker to process it (0: none)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        channel = self._channel(options["channel"])
        try:
            delivery = SIMULATORS[channel.platform].delivery(channel, options["topic"])
        except simulation.UnknownTopic as exc:
            raise CommandError(str(exc)) from None
        base = (options["url"] or settings.WEBHOOK_BASE_URL).rstrip("/")
        event_id, answer = self._post(base, channel, delivery)
        self.stdout.write(f"{channel.platform} {options['topic']} to {base}{delivery.path}: {answer}")
        if event_id is None:
            self.stdout.write("no event of this hub's database has its request id: is --url another hub?")
            return
        event = self._wait(event_id, options["wait"])
        self.stdout.write(self._status_line(event, options["wait"]))
        for label, path in webhook_job_subjects([event.pk])[event.pk].links:
            self.stdout.write(f"  {label}: {base}{path}")

    def _channel(self, given: str) -> Channel:
        shop = Q(shop_identifier__in=[given, given.rstrip("/")])
        found = list(Channel.objects.filter(shop | Q(pk=int(given)) if given.isdigit() else shop))
        if len(found) != 1:
            channels = Channel.objects.order_by("pk")
            known = ", ".join(f"{c.pk} ({c.platform} {c.shop_identifier})" for c in channels)
            which = "several channels" if found else "no channel"
            raise CommandError(f"{which} named {given!r}; channels: {known or 'none yet (create_channel)'}")
        return found[0]

    def _post(
        self, base: str, channel: Channel, delivery: simulation.SimulatedDelivery
    ) -> tuple[int | None, str]:
        """POST the delivery; the event it made (None if unknown here) and the answer in words."""
        # Its own request id, which the hub keeps on the event it stores: how the event is found
        # when the answer does not name it (Shopee's is empty, Twilio's TwiML).
        request_id = uuid.uuid4().hex
        headers = {**delivery.headers, "X-Request-Id": request_id}
        # Plain requests, not the egress guard of the hub's own calls: the address is the hub's,
        # given by whoever runs this command on it, never by a merchant.
        try:
            response = requests.post(
                base + delivery.path, data=delivery.body, headers=headers, timeout=10, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise CommandError(
                f"cannot reach the hub at {base}: {exc.__class__.__name__}. Is it running (make run)? "
                "Or give its address with --url."
            ) from None
        answer = f"HTTP {response.status_code} {response.text.strip()[:200]}".strip()
        if response.status_code == 401:
            raise CommandError(
                f"{answer}: the hub does not know the channel or refused its signature. Shopee and "
                f"Twilio sign the URL, built from WEBHOOK_BASE_URL ({settings.WEBHOOK_BASE_URL} here): "
                "the hub must have the same."
            )
        if response.status_code >= 300:
            raise CommandError(answer)
        # A duplicate keeps the request id of its first delivery; a JSON answer names it.
        named = _json_field(response, "event")
        events = ProcessedWebhookEvent.objects.filter(
            Q(request_id=request_id) | Q(pk=named if isinstance(named, int) else None, channel=channel)
        )
        return events.values_list("pk", flat=True).first(), answer

    def _wait(self, event_id: int, seconds: float) -> ProcessedWebhookEvent:
        deadline = time.monotonic() + seconds
        while True:
            event = ProcessedWebhookEvent.objects.get(pk=event_id)
            if event.status not in UNFINISHED or time.monotonic() >= deadline:
                return event
            time.sleep(0.25)

    def _status_line(self, event: ProcessedWebhookEvent, waited: float) -> str:
        line = f"event {event.pk}: {event.status}"
        if event.status == EventStatus.IGNORED:
            return f"{line} ({event.ignored_reason})"
        if event.status == EventStatus.FAILED:
            return f"{line}: {event.error_message[:300]}"
        if event.status in UNFINISHED and waited:
            queue = queue_for(event.source)
            return (
                f"{line} after {waited:g} s: is a worker of the {queue} queue running? (make run "
                f"starts them; or `python manage.py rqworker {queue}`)"
            )
        return line


def _json_field(response: requests.Response, name: str) -> object:
    try:
        body = response.json()
    except ValueError:
        return None  # Shopee's answer is empty, Twilio's TwiML
    return body.get(name) if isinstance(body, dict) else None
