import json
import sys
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from catalog_sync.models import CatalogSyncRun, RunMode, Supplier
from catalog_sync.pipeline import run_direct, run_start
from channels_app.models import SyncStatus

FINISHED = (SyncStatus.SUCCEEDED, SyncStatus.FAILED)
# Seconds a queued run may wait for a worker before the command says what it may be waiting for.
WAITING_HINT_AFTER = 10


class Command(BaseCommand):
    help = (
        "Sync a supplier's catalog: queued on catalog-supplier (the run id is printed and its "
        "progress followed until it ends), or all in this process with --direct."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="The supplier's code.")
        parser.add_argument("--org", help="Organization slug, when two organizations use the same code.")
        parser.add_argument("--direct", action="store_true", help="Run in this process, not on workers.")
        parser.add_argument("--json", action="store_true", help="End with one line of JSON: the counters.")

    def handle(self, *args: Any, **options: Any) -> None:
        suppliers = Supplier.objects.filter(code=options["code"])
        if options["org"]:
            suppliers = suppliers.filter(organization__slug=options["org"])
        found = list(suppliers[:2])
        if not found:
            raise CommandError(f"no supplier {options['code']}")
        if len(found) > 1:
            raise CommandError(
                f"several organizations have a supplier {options['code']}: say which with --org"
            )
        supplier = found[0]
        if not supplier.is_active:
            raise CommandError(f"supplier {supplier.code} is not active")
        mode = RunMode.DIRECT if options["direct"] else RunMode.QUEUED
        with transaction.atomic():
            run = run_start(supplier_id=supplier.pk, mode=mode, requested_by="sync_supplier")
        joined = " (joined the run under way)" if run.joined else ""
        self.stderr.write(f"catalog run {run.pk} of {supplier.code}, {run.mode}{joined}")
        if mode == RunMode.DIRECT and not run.joined:
            run = self._direct(run)
        else:
            run = self._follow(run)
        self._show(run)
        self.stderr.write("")
        counters = run.counters()
        if options["json"]:
            self.stdout.write(json.dumps({"run": run.pk, "status": run.status.lower(), **counters}))
        else:
            self.stdout.write(
                f"catalog run {run.pk} {run.status.lower()} in {run.duration or 0:.1f}s: "
                + ", ".join(f"{name} {value}" for name, value in counters.items())
            )
        for error in run.errors[:20]:
            self.stderr.write(f"  line {error.get('line')}: {error.get('error')} {error.get('url', '')}")
        if len(run.errors) > 20:
            self.stderr.write(
                f"  ... and {len(run.errors) - 20} more (the run's page in the admin lists them)"
            )
        if run.status == SyncStatus.FAILED:
            raise CommandError(f"catalog run {run.pk} failed: {run.error}")

    def _direct(self, run: CatalogSyncRun) -> CatalogSyncRun:
        """Run it in a thread of this process while this one shows its progress, as for a queued run."""
        failure: list[BaseException] = []

        def work() -> None:
            try:
                run_direct(run.pk)
            except BaseException as exc:  # The run records it too; the command shows it below.
                failure.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=work, name=f"catalog-run-{run.pk}")
        thread.start()
        while thread.is_alive():
            run.refresh_from_db()
            self._show(run)
            thread.join(0.5)
        run.refresh_from_db()
        if failure and run.status not in FINISHED:
            raise CommandError(f"catalog run {run.pk}: {failure[0]}")
        return run

    def _follow(self, run: CatalogSyncRun) -> CatalogSyncRun:
        started = time.monotonic()
        hinted = False
        while run.status not in FINISHED:
            self._show(run)
            if (
                not hinted
                and run.status == SyncStatus.QUEUED
                and time.monotonic() - started > WAITING_HINT_AFTER
            ):
                self.stderr.write(
                    "\nstill queued: is a catalog-supplier worker running? (`make run` starts one; "
                    "or use --direct)"
                )
                hinted = True
            time.sleep(0.5)
            run.refresh_from_db()
        return run

    def _show(self, run: CatalogSyncRun) -> None:
        if not sys.stderr.isatty() and run.status not in FINISHED:
            return
        percent = run.percent
        bar = "#" * (percent // 5)
        self.stderr.write(f"\r[{bar:<20}] {percent:3d}% {run.step[:70]:<70}", ending="")
