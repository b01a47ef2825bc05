"""Supplier catalogs: a supplier's feed, its product families and their images, and sync runs.

The feed is an index of `URL|HASH` lines, one per variant record (README, "Supplier catalog
sync"). The hub keeps each record's last HASH (`FeedRecord`): a record whose HASH is unchanged is
not fetched again, so an unchanged feed costs one index download and a batched comparison.
"""

from __future__ import annotations

from django.db import models

from channels_app.models import SyncStatus
from channels_app.secrets import EncryptedJSONField


class Supplier(models.Model):
    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="suppliers"
    )
    code = models.SlugField(max_length=50, help_text="Short code, e.g. A360; used in commands.")
    name = models.CharField(max_length=200)
    feed_url = models.URLField(max_length=500, help_text="The index: one `URL|HASH` line per variant.")
    credentials = EncryptedJSONField(blank=True, default=dict, help_text="HTTP auth for the feed, if any.")
    sync_interval_minutes = models.PositiveIntegerField(
        default=24 * 60, help_text="How often the scheduler syncs this supplier; 0 for never."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="supplier_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ProductFamily(models.Model):
    """A supplier's product (the family key is its article number) with the hub's product."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="families")
    family_key = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=64, blank=True, help_text="Of its variants' HASHes.")
    product = models.ForeignKey(
        "inventory.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="families"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "product families"
        constraints = [
            models.UniqueConstraint(fields=["supplier", "family_key"], name="family_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier_id}:{self.family_key}"


class FeedRecord(models.Model):
    """One line of a supplier's index as last seen: the record's URL and the supplier's HASH."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="records")
    url = models.URLField(max_length=1000)
    content_hash = models.CharField(max_length=200)
    family = models.ForeignKey(
        ProductFamily, null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Also the index of the batched HASH comparison (supplier, url IN (...)).
            models.UniqueConstraint(fields=["supplier", "url"], name="feed_record_unique_url"),
        ]

    def __str__(self) -> str:
        return self.url


class ImageAsset(models.Model):
    """An image stored once per content digest, however many families or suppliers use it."""

    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the content.")
    source_url = models.URLField(max_length=1000)
    file = models.FileField(upload_to="catalog/images/")
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    families = models.ManyToManyField(ProductFamily, blank=True, related_name="images")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.digest[:12]} {self.source_url}"


class RunMode(models.TextChoices):
    QUEUED = "queued"
    DIRECT = "direct"


class CatalogSyncRun(models.Model):
    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="runs")
    mode = models.CharField(max_length=10, choices=RunMode.choices, default=RunMode.QUEUED)
    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    step = models.CharField(max_length=200, blank=True)
    percent = models.PositiveSmallIntegerField(default=0)
    counters = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="Malformed lines and records, with where.")
    error = models.TextField(blank=True, help_text="Why the run failed, if it did.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["supplier", "-created_at"], name="catalog_run_supplier_idx")]

    def __str__(self) -> str:
        return f"sync of {self.supplier_id} #{self.pk}"

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
