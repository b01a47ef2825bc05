"""Long work against a channel's API (imports, backfills, reconciliations), with its progress."""

from __future__ import annotations

from django.db import models

from channels_app.models.tenancy import Channel


class SyncKind(models.TextChoices):
    PRODUCTS = "products", "Product import"
    ORDERS = "orders", "Order backfill"
    RECONCILE = "reconcile", "Reconciliation"
    WEBHOOKS = "webhooks", "Webhook registration"


class SyncStatus(models.TextChoices):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class SyncRun(models.Model):
    """One run of a long job against a channel's API, with its progress for the admin's bar."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(max_length=20, choices=SyncKind.choices)
    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    since = models.DateTimeField(null=True, blank=True, help_text="Orders updated since (backfill).")
    step = models.CharField(max_length=200, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Unknown until the platform says.")
    counters = models.JSONField(default=dict, blank=True)
    resume_from = models.CharField(
        max_length=500, blank=True, help_text="Where a retried run goes on from (a cursor, page or offset)."
    )
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Set by sync_start on a run already under way that a new request joined (a worker has it).
    joined = False

    class Meta:
        indexes = [models.Index(fields=["channel", "kind", "-created_at"], name="syncrun_channel_kind_idx")]
        constraints = [
            # One run of a kind at a time per channel: "sync now" clicked twice joins the run under way.
            models.UniqueConstraint(
                fields=["channel", "kind"],
                condition=models.Q(status__in=["QUEUED", "RUNNING"]),
                name="syncrun_one_open_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def job_id(self) -> str:
        return f"sync-{self.pk}"

    @property
    def percent(self) -> int | None:
        if self.status == SyncStatus.SUCCEEDED:
            return 100
        if not self.total:
            return None
        return min(100, round(100 * self.done / self.total))

    def progress(self, *, step: str | None = None, done: int | None = None, total: int | None = None) -> None:
        """Record progress now (its own UPDATE, committed at once so the admin sees it move)."""
        changes: dict[str, object] = {}
        if step is not None:
            self.step = changes["step"] = step[:200]
        if done is not None:
            self.done = changes["done"] = done
        if total is not None:
            self.total = changes["total"] = total
        changes["counters"] = self.counters
        SyncRun.objects.filter(pk=self.pk).update(**changes)

    def count(self, **increments: int) -> None:
        for name, n in increments.items():
            self.counters[name] = self.counters.get(name, 0) + n
