from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.services import OrganizationChange, organization_create


class Command(BaseCommand):
    help = (
        "Create an organization (a merchant's company: its channels, orders, stock and contacts). "
        "Running it again changes nothing, unless --name gives a new name."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Short name used by --org, e.g. acme (letters, digits, - and _).")
        parser.add_argument("--name", default="", help="Display name (default: the slug, capitalized).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization, outcome = organization_create(slug=options["slug"], name=options["name"])
        except ValidationError as exc:
            raise CommandError(f"{options['slug']!r}: {exc.messages[0]}") from None
        said = {
            OrganizationChange.CREATED: "created organization",
            OrganizationChange.RENAMED: "renamed organization",
            OrganizationChange.UNCHANGED: "organization exists, unchanged:",
        }[outcome]
        self.stdout.write(f"{said} {organization.slug} ({organization.name})")
