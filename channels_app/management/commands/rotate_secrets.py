from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import ngettext

from channels_app.models import Channel


class Command(BaseCommand):
    help = (
        "Re-encrypt every channel secret with the first key of HUB_ENCRYPTION_KEYS. Put a new key "
        "first, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            # Reading decrypts with whichever key fits; saving encrypts with the first key.
            for channel in Channel.objects.select_for_update().order_by("pk"):
                channel.save(update_fields=["webhook_secret", "previous_webhook_secret", "credentials"])
                count += 1
        channels = ngettext("%(n)d channel", "%(n)d channels", count) % {"n": count}
        self.stdout.write(f"re-encrypted the secrets of {channels}")
