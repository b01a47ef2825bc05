import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import ngettext

from channels_app.cli import organization_named
from inventory.models import SKU, MovementReason, Warehouse
from inventory.services import stock_set

REQUIRED = ("sku", "warehouse", "on_hand")


class Command(BaseCommand):
    help = (
        "Set stock from a CSV with columns sku,warehouse,on_hand (and optionally title). Creates SKUs "
        "and warehouses as needed. A bad row is reported with its line number and nothing is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_named(options["org"])
        rows = self._read(options["file"])
        changed = 0
        with transaction.atomic():
            has_default = Warehouse.objects.filter(organization=organization, is_default=True).exists()
            for line, row in rows:
                warehouse, created = Warehouse.objects.get_or_create(
                    organization=organization, code=row["warehouse"], defaults={"name": row["warehouse"]}
                )
                if created and not has_default:
                    # An organization's first warehouse is its default: orders and reports fall back on it.
                    warehouse.is_default = has_default = True
                    warehouse.save(update_fields=["is_default"])
                sku, _ = SKU.objects.get_or_create(
                    organization=organization, code=row["sku"], defaults={"title": row.get("title") or ""}
                )
                if stock_set(
                    sku_id=sku.pk,
                    warehouse_id=warehouse.pk,
                    on_hand=int(row["on_hand"]),
                    reason=MovementReason.IMPORT,
                    reference=f"{options['file'].name}:{line}",
                ):
                    changed += 1
        self.stdout.write(
            ngettext("imported %(n)d row", "imported %(n)d rows", len(rows)) % {"n": len(rows)}
            + ngettext(", %(n)d stock level changed", ", %(n)d stock levels changed", changed)
            % {"n": changed}
        )

    def _read(self, path: Path) -> list[tuple[int, dict[str, str]]]:
        """Every row, validated before anything is written."""
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
                if missing:
                    raise CommandError(f"{path}: missing column(s) {', '.join(missing)}")
                rows = [
                    (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader
                ]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        seen: dict[tuple[str, str], int] = {}
        for line, row in rows:
            for column in REQUIRED:
                if not row.get(column):
                    raise CommandError(f"{path}:{line}: {column} is empty; nothing was imported")
            try:
                if int(row["on_hand"]) < 0:
                    raise ValueError
            except ValueError:
                raise CommandError(
                    f"{path}:{line}: on_hand {row['on_hand']!r} is not a whole number >= 0; "
                    "nothing was imported"
                ) from None
            key = (row["sku"], row["warehouse"])
            if key in seen:
                raise CommandError(
                    f"{path}:{line}: {key[0]} at {key[1]} repeats line {seen[key]}; nothing was imported"
                )
            seen[key] = line
        return rows
