import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from channels_app.sweeper import events_purge, events_sweep


class Command(BaseCommand):
    help = (
        "Re-enqueue webhook events stuck in ENQUEUED or PROCESSING whose job is gone (Redis was down, "
        "a worker died), then delete events past their retention. The scheduler runs this every minute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enqueued-after", type=int, default=None, help="Seconds (default: setting).")
        parser.add_argument(
            "--processing-timeout", type=int, default=None, help="Seconds (default: setting)."
        )
        parser.add_argument("--no-purge", action="store_true", help="Skip the retention cleanup.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = events_sweep(
            enqueued_after=options["enqueued_after"], processing_timeout=options["processing_timeout"]
        ).as_dict()
        if not options["no_purge"]:
            result.update(purged=events_purge()["deleted"])
        self.stdout.write(json.dumps(result))
