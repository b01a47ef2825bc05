import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from channels_app.models import Channel, SyncKind, SyncStatus
from channels_app.sync import sync_run, sync_start


class Command(BaseCommand):
    help = (
        "Subscribe a channel to every webhook topic the hub handles, at its webhook URL (built from "
        "WEBHOOK_BASE_URL), as the admin's 'Register webhooks' does; runs in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        channel = Channel.objects.filter(pk=options["channel_id"]).first()
        if channel is None:
            raise CommandError(f"no channel {options['channel_id']}")
        with transaction.atomic():
            run = sync_start(
                channel_id=channel.pk, kind=SyncKind.WEBHOOKS, requested_by="register_webhooks", queued=False
            )
        if run.joined:  # A run is under way on a worker already: wait for it to end.
            while run.status not in (SyncStatus.SUCCEEDED, SyncStatus.FAILED):
                time.sleep(0.5)
                run.refresh_from_db()
        else:
            try:
                run = sync_run(run.pk)
            except Exception:
                run.refresh_from_db()
        if run.status == SyncStatus.FAILED:
            raise CommandError(f"webhook registration failed: {run.error}")
        for subscription in channel.subscriptions.order_by("topic"):
            self.stdout.write(f"{subscription.topic:<28} {subscription.state:<9} {subscription.callback_url}")
        if run.counters.get("console"):
            self.stdout.write(run.step)
