import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from channels_app.cli import organization_named
from inventory.models import StockLevel


class Command(BaseCommand):
    help = "Stock per SKU and warehouse: on hand, reserved and available."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization_named(options["org"])
        levels = (
            StockLevel.objects.filter(sku__organization__slug=options["org"])
            .select_related("sku", "warehouse")
            .order_by("sku__code", "warehouse__code")
        )
        line = "{sku:<24} {warehouse:<16} {on_hand:>8} {reserved:>9} {available:>10}"
        if not options["json"]:
            header = {"sku": "sku", "warehouse": "warehouse", "on_hand": "on hand", "reserved": "reserved"}
            self.stdout.write(line.format(available="available", **header))
        for level in levels.iterator(chunk_size=1000):
            row = {
                "sku": level.sku.code,
                "warehouse": level.warehouse.code,
                "on_hand": level.on_hand,
                "reserved": level.reserved,
                "available": level.available,
            }
            if options["json"]:
                self.stdout.write(json.dumps(row))
            else:
                self.stdout.write(line.format(**row))
