import csv
import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from channels_app.cli import organization_named
from messaging.consent import consent_record
from messaging.models import ConsentState, Contact, time_zone_valid
from messaging.phones import PhoneError, e164

COLUMNS = ("phone", "name", "timezone", "consent")
CONSENT = {
    "yes": ConsentState.OPTED_IN,
    "opted_in": ConsentState.OPTED_IN,
    "true": ConsentState.OPTED_IN,
    "1": ConsentState.OPTED_IN,
    "no": ConsentState.OPTED_OUT,
    "opted_out": ConsentState.OPTED_OUT,
    "false": ConsentState.OPTED_OUT,
    "0": ConsentState.OPTED_OUT,
    "": ConsentState.UNKNOWN,
    "unknown": ConsentState.UNKNOWN,
}


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV file with the columns phone,name,timezone,consent (consent: "
        "yes/no/blank). All or nothing: a bad row names its line and nothing is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--region", help="Country (ISO 3166, e.g. US) for numbers written without their +code."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_named(options["org"])
        rows = self._read(options["file"], options["region"])
        created = updated = consents = 0
        with transaction.atomic():
            for phone, name, zone, consent in rows:
                contact, new = Contact.objects.get_or_create(
                    organization=organization, phone=phone, defaults={"name": name, "time_zone": zone}
                )
                wanted = (name or contact.name, zone or contact.time_zone)
                if not new and wanted != (contact.name, contact.time_zone):
                    Contact.objects.filter(pk=contact.pk).update(name=wanted[0], time_zone=wanted[1])
                    updated += 1
                created += new
                # An import never overrides an opt-out the contact sent themselves.
                if consent != ConsentState.UNKNOWN and not (
                    consent == ConsentState.OPTED_IN and contact.consent == ConsentState.OPTED_OUT
                ):
                    consents += consent_record(contact, consent, source="import")
        self.stdout.write(
            json.dumps(
                {"rows": len(rows), "created": created, "updated": updated, "consent_changed": consents}
            )
        )

    def _read(self, path: Path, region: str | None) -> list[tuple[str, str, str, str]]:
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
        rows: list[tuple[str, str, str, str]] = []
        seen: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            try:
                phone = e164(row["phone"] or "", region)
                zone = (row["timezone"] or "").strip()
                time_zone_valid(zone)
                consent = CONSENT.get((row["consent"] or "").strip().lower())
                if consent is None:
                    raise ValidationError(f"consent {row['consent']!r} is not yes, no or blank")
            except (PhoneError, ValidationError) as exc:
                message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
                raise CommandError(f"{path}: line {line}: {message}; nothing was imported") from exc
            if phone in seen:
                raise CommandError(
                    f"{path}: line {line}: {phone} is already on line {seen[phone]}; nothing was imported"
                )
            seen[phone] = line
            rows.append((phone, (row["name"] or "").strip()[:200], zone, consent))
        return rows
