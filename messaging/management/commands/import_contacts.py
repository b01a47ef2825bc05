import csv
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from channels_app.cli import organization_named
from channels_app.spreadsheets import RowError
from messaging.contacts import COLUMNS, ContactRow, contact_import, contact_row_read, phone_region


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV file with the columns phone,name,timezone,consent (consent: "
        "yes/no/blank), and email if wanted. All or nothing: a bad row names its line and nothing "
        "is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--region",
            help="Country (ISO 3166, e.g. US) for numbers written without their +code; "
            "default: the organization's phone region (Messaging settings).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_named(options["org"])
        region = options["region"] or phone_region(organization.pk)
        rows = self._read(options["file"], region)
        created = updated = consents = 0
        with transaction.atomic():
            for row in rows:
                imported = contact_import(organization_id=organization.pk, row=row)
                created += imported.created
                updated += imported.updated
                consents += imported.consent_changed
        self.stdout.write(
            json.dumps(
                {"rows": len(rows), "created": created, "updated": updated, "consent_changed": consents}
            )
        )

    def _read(self, path: Path, region: str) -> list[ContactRow]:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        reader = csv.DictReader(text.splitlines())
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CommandError(
                f"{path}: line 1 lacks the column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})"
            )
        rows: list[ContactRow] = []
        seen: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            try:
                contact = contact_row_read(row, region)
            except RowError as exc:
                raise CommandError(f"{path}: line {line}: {exc}; nothing was imported") from exc
            if contact.phone in seen:
                raise CommandError(
                    f"{path}: line {line}: {contact.phone} is already on line {seen[contact.phone]}; "
                    "nothing was imported"
                )
            seen[contact.phone] = line
            rows.append(contact)
        return rows
