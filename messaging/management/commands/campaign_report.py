import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import ngettext

from messaging.campaigns import campaign_report
from messaging.models import Campaign


class Command(BaseCommand):
    help = "A campaign's messages counted by status and by suppression reason."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--json", action="store_true", help="One line of JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(pk=options["campaign_id"]).first()
        if campaign is None:
            raise CommandError(f"no campaign {options['campaign_id']}")
        report = campaign_report(campaign)
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(
            f"campaign {report['campaign']} {report['name']!r}: {report['status']}, "
            + ngettext("%(n)d message", "%(n)d messages", report["messages"]) % {"n": report["messages"]}
        )
        for status, n in report["by_status"].items():
            self.stdout.write(f"  {status}: {n}")
        for reason, n in report["suppressed_by_reason"].items():
            self.stdout.write(f"  suppressed, {reason}: {n}")
