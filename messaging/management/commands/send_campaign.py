import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels_app.cli import organization_named
from messaging.campaigns import AudienceError, campaign_send
from messaging.models import Campaign
from messaging.rendering import TemplateError, render


class Command(BaseCommand):
    help = "Create a campaign and send it now (or at --at), as the admin's Send action does; prints its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--template", required=True, help='e.g. "Hi {{ contact.name }}, 20%% off today"')
        parser.add_argument("--at", help="ISO 8601 time to send at (default: now).")
        parser.add_argument(
            "--audience", default="{}", help='JSON filter, e.g. {"time_zone": "Europe/Paris"}'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_named(options["org"])
        at = None
        if options["at"]:
            at = parse_datetime(options["at"])
            if at is None:
                raise CommandError(f"--at {options['at']!r} is not an ISO 8601 date and time")
            if timezone.is_naive(at):
                raise CommandError("--at needs its offset, e.g. 2026-12-01T09:00:00+01:00")
        try:
            render(options["template"], {"contact": {"name": "test", "phone": "+10000000000"}})
            audience = json.loads(options["audience"])
        except TemplateError as exc:
            raise CommandError(str(exc)) from exc
        except ValueError as exc:
            raise CommandError(f"--audience is not JSON: {exc}") from exc
        try:
            with transaction.atomic():
                campaign = Campaign.objects.create(
                    organization=organization,
                    name=options["name"],
                    template=options["template"],
                    audience=audience,
                )
                campaign_send(campaign, at)
        except AudienceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(campaign.pk))
