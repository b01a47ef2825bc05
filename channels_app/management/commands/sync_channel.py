import sys
import time
from datetime import UTC
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels_app.models import Channel, SyncKind, SyncRun, SyncStatus
from channels_app.sync import sync_run, sync_start

FINISHED = (SyncStatus.SUCCEEDED, SyncStatus.FAILED)


class Command(BaseCommand):
    help = (
        "Import a channel's products, backfill its orders (--since), or reconcile its orders and stock "
        "with its API: queued on channel-sync (followed until it ends), or inline with --direct."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel_id", type=int)
        parser.add_argument("what", choices=[SyncKind.PRODUCTS, SyncKind.ORDERS, SyncKind.RECONCILE])
        parser.add_argument(
            "--since",
            help="orders: backfill orders updated since this ISO 8601 time (required); reconcile: "
            "instead of since the last successful reconciliation.",
        )
        parser.add_argument("--direct", action="store_true", help="Run in this process, not on a worker.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not Channel.objects.filter(pk=options["channel_id"]).exists():
            raise CommandError(f"no channel {options['channel_id']}")
        since = None
        if options["since"]:
            since = parse_datetime(options["since"])
            if since is None:
                raise CommandError(f"--since {options['since']!r} is not an ISO 8601 date and time")
            if timezone.is_naive(since):
                since = timezone.make_aware(since, UTC)
        elif options["what"] == SyncKind.ORDERS:
            raise CommandError("orders needs --since (ISO 8601), e.g. --since 2026-11-01T00:00:00Z")
        with transaction.atomic():
            run = sync_start(
                channel_id=options["channel_id"],
                kind=options["what"],
                since=since,
                requested_by="sync_channel",
                queued=not options["direct"],
            )
        self.stderr.write(f"sync run {run.pk} ({run.get_kind_display()})")
        if options["direct"] and not run.joined:
            try:
                run = sync_run(run.pk)
            except Exception:
                run.refresh_from_db()
        else:
            run = self._follow(run)
        self._show(run)
        self.stderr.write("")
        if run.status == SyncStatus.FAILED:
            raise CommandError(f"sync run {run.pk} failed: {run.error}")
        self.stdout.write(f"sync run {run.pk} {run.status.lower()}: {run.counters}")

    def _follow(self, run: SyncRun) -> SyncRun:
        """Show the run's progress until a worker finishes it."""
        while run.status not in FINISHED:
            self._show(run)
            time.sleep(0.5)
            run.refresh_from_db()
        return run

    def _show(self, run: SyncRun) -> None:
        if not sys.stderr.isatty() and run.status not in FINISHED:
            return
        percent = run.percent
        bar = "#" * ((percent or 0) // 5)
        figure = f"{percent:3d}%" if percent is not None else "  ?%"
        self.stderr.write(
            f"\r[{bar:<20}] {figure} {run.done}/{run.total or '?'} {run.step[:60]:<60}", ending=""
        )
