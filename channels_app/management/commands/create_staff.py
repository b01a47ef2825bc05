from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Q

from channels_app.cli import no_organization
from channels_app.models import Organization
from config.ops.access import OPS_PERMISSION

# What a merchant does in the admin: run their channels and stock; read their events and orders.
MERCHANT_PERMISSIONS = {
    "channels_app": {
        "channel": "view add change",
        "channellocation": "view add change delete",
        "processedwebhookevent": "view",
        "syncrun": "view",
        "webhooksubscription": "view",
        "organization": "view",
    },
    "orders": {"order": "view change", "orderitem": "view", "fulfillment": "view add"},
    "catalog_sync": {
        "supplier": "view add change",
        "productfamily": "view",
        "familychange": "view",
        "familyimage": "view change",  # Change, to retry failed images.
        "imageasset": "view",
        "catalogsyncrun": "view",
        "productlisting": "view change",  # Change, to push a product again.
    },
    "messaging": {
        "contact": "view add change",
        "consentevent": "view",
        "messagingsettings": "view add change",
        "automation": "view add change delete",
        "campaign": "view add change",
        "message": "view",
        "outboxrecord": "view",
        "dailyreport": "view",
    },
    "inventory": {
        "warehouse": "view add change",
        "product": "view add change",
        "sku": "view add change",
        "channelvariant": "view add change delete",
        "stocklevel": "view change",  # Change: a level edited or imported, through the ledger.
        "stockmovement": "view",
        "reservation": "view",
    },
}
OPS_APPS = ("channels_app", "orders", "inventory", "catalog_sync", "messaging")


class Command(BaseCommand):
    help = (
        "Create (or update) a staff user, as a superuser does in the admin: a merchant of the given "
        "organizations, or with --ops an ops user (queues, jobs, event re-processing, every organization)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--org", action="append", default=[], help="Organization slug (repeatable).")
        parser.add_argument("--ops", action="store_true", help="Grant the ops permission.")

    def handle(self, *args: Any, **options: Any) -> None:
        slugs = options["org"]
        organizations = list(Organization.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {o.slug for o in organizations})
        if missing:
            raise CommandError(no_organization(*missing))
        if not organizations and not options["ops"]:
            raise CommandError("a merchant needs at least one --org (or give --ops)")
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(
                username=options["username"], defaults={"is_staff": True}
            )
            user.is_staff = True
            user.set_password(options["password"])
            user.save()
            user.user_permissions.add(*self._permissions(ops=options["ops"]))
            for organization in organizations:
                organization.members.add(user)
        role = "ops" if options["ops"] else "merchant"
        orgs = ", ".join(o.slug for o in organizations) or "all (ops)"
        self.stdout.write(
            f"{'created' if created else 'updated'} {role} {user.username}: organizations {orgs}"
        )

    def _permissions(self, *, ops: bool) -> list[Permission]:
        if ops:
            app_label, codename = OPS_PERMISSION.split(".")
            wanted = Q(content_type__app_label=app_label, codename=codename) | Q(
                content_type__app_label__in=OPS_APPS, codename__startswith="view_"
            )
        else:
            wanted = Q(pk__in=[])
            for app_label, models in MERCHANT_PERMISSIONS.items():
                for model, actions in models.items():
                    codenames = [f"{action}_{model}" for action in actions.split()]
                    wanted |= Q(content_type__app_label=app_label, codename__in=codenames)
        return list(Permission.objects.filter(wanted))
