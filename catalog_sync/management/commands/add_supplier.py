import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator

from catalog_sync.models import Supplier, interval_valid
from channels_app.cli import organization_named


class Command(BaseCommand):
    help = "Add (or update) a supplier whose feed index the hub syncs, as in the admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--code", required=True, help="Short code, e.g. A360.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--feed-url", required=True, help="The index: one URL|HASH line per variant.")
        parser.add_argument("--interval", type=int, default=24 * 60, help="Minutes between scheduled syncs.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_named(options["org"])
        try:
            URLValidator(schemes=["http", "https"])(options["feed_url"])
            Supplier(feed_url=options["feed_url"]).clean()
        except ValidationError as exc:
            raise CommandError(f"--feed-url: {exc.messages[0]}") from exc
        try:
            interval_valid(options["interval"])
        except ValidationError as exc:
            raise CommandError(f"--interval: {exc.messages[0]}") from exc
        supplier, created = Supplier.objects.update_or_create(
            organization=organization,
            code=options["code"],
            defaults={
                "name": options["name"],
                "feed_url": options["feed_url"],
                "sync_interval_minutes": options["interval"],
            },
        )
        result = {"id": supplier.pk, "code": supplier.code, "created": created}
        self.stdout.write(json.dumps(result))
