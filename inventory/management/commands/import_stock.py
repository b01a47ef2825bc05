import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import ngettext

from channels_app.cli import organization_named
from inventory.stock_files import COLUMNS, StockRow, stock_row_import, stock_rows_check


class Command(BaseCommand):
    help = (
        "Set stock from a CSV with columns sku,warehouse,on_hand (and optionally title). Creates SKUs "
        "and warehouses as needed. Every bad row is reported with its line number and nothing is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_named(options["org"])
        path: Path = options["file"]
        rows = self._read(path)
        changed = 0
        with transaction.atomic():
            for line, row in rows:
                if stock_row_import(
                    organization_id=organization.pk, row=row, reference=f"{path.name}:{line}"
                ):
                    changed += 1
        self.stdout.write(
            ngettext("imported %(n)d row", "imported %(n)d rows", len(rows)) % {"n": len(rows)}
            + ngettext(", %(n)d stock level changed", ", %(n)d stock levels changed", changed)
            % {"n": changed}
        )

    def _read(self, path: Path) -> list[tuple[int, StockRow]]:
        """Every row, checked before anything is written; every bad one is named, not the first only."""
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise CommandError(f"{path}: missing column(s) {', '.join(missing)}")
                cells = [(reader.line_num, {k: v for k, v in row.items() if k}) for row in reader]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        rows, problems = stock_rows_check(cells)
        if problems:
            bad = ngettext("%(n)d bad row", "%(n)d bad rows", len(problems)) % {"n": len(problems)}
            raise CommandError(
                "\n".join(
                    [*(f"{path}:{p.line}: {p.message}" for p in problems), f"{bad}; nothing was imported"]
                )
            )
        return rows
