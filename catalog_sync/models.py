"""Supplier catalogs: a supplier's feed, its product families and their images, and sync runs.

The feed is an index of `URL|HASH` lines, one per variant record (README, "Supplier catalog
sync"). The hub keeps each record's last HASH (`FeedRecord`): a record whose HASH is unchanged is
not fetched again, so an unchanged feed costs one index download and a batched comparison.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from channels_app import egress
from channels_app.models import SyncStatus
from channels_app.secrets import EncryptedJSONField

# Minutes between a supplier's scheduled runs, at least: one supplier must not keep the only
# catalog-supplier worker busy.
MIN_INTERVAL = 15


def interval_valid(minutes: int) -> None:
    if 0 < minutes < MIN_INTERVAL:
        raise ValidationError(f"Sync at most every {MIN_INTERVAL} minutes (or 0: never on a schedule).")


class Supplier(models.Model):
    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="suppliers"
    )
    code = models.SlugField(max_length=50, help_text="Short code, e.g. A360; used in commands.")
    name = models.CharField(max_length=200)
    feed_url = models.URLField(max_length=500, help_text="The index: one `URL|HASH` line per variant.")
    credentials = EncryptedJSONField(blank=True, default=dict, help_text="HTTP auth for the feed, if any.")
    sync_interval_minutes = models.PositiveIntegerField(
        default=24 * 60,
        validators=[interval_valid],
        help_text="How often the scheduler syncs this supplier, in minutes (15 or more); 0 for never.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="supplier_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        """The feed is fetched by the workers with the supplier's credentials: a public address
        only (channels_app.egress; every connection, redirects included, is checked again)."""
        refusal = self.feed_url and egress.url_refusal(self.feed_url, resolve=True)
        if refusal:
            raise ValidationError({"feed_url": refusal})


class ProductFamily(models.Model):
    """A supplier's product (the family key is its article number) with the hub's product.

    `content_hash` is of the family's variants as the feed has them now; `applied_hash` of what
    was last written to the product. A family whose two differ has work waiting (its `run`'s).
    """

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="families")
    family_key = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=64, blank=True, help_text="Of its variants in the feed.")
    applied_hash = models.CharField(max_length=64, blank=True, help_text="Of its variants in the product.")
    product = models.ForeignKey(
        "inventory.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="families"
    )
    run = models.ForeignKey(
        "CatalogSyncRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The run that last wanted it written.",
    )
    error = models.TextField(blank=True, help_text="Why it could not be written, if it could not.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "product families"
        constraints = [
            models.UniqueConstraint(fields=["supplier", "family_key"], name="family_unique_key"),
        ]

    def __str__(self) -> str:
        return self.family_key


class ChangeAction(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"


class FamilyChange(models.Model):
    """A family's history: each write of its product, with what changed."""

    family = models.ForeignKey(ProductFamily, on_delete=models.CASCADE, related_name="changes")
    run = models.ForeignKey("CatalogSyncRun", null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=10, choices=ChangeAction.choices)
    content_hash = models.CharField(max_length=64)
    changes = models.JSONField(default=dict, help_text="Field: [before, after], per SKU and for the product.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["family", "-created_at"], name="family_change_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.created_at:%Y-%m-%d %H:%M}"


class FeedRecord(models.Model):
    """One line of a supplier's index as last seen: the record's URL and the supplier's HASH."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="records")
    url = models.URLField(max_length=1000)
    content_hash = models.CharField(max_length=200, help_text="The supplier's HASH when last fetched.")
    family = models.ForeignKey(
        ProductFamily, null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )
    data = models.JSONField(default=dict, help_text="The record as last fetched, checked and normalized.")
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
    source_url = models.URLField(max_length=1000, help_text="Where it was first fetched from.")
    file = models.FileField(upload_to="catalog/images/", max_length=200)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.digest[:12]} {self.source_url}"


class ImageStatus(models.TextChoices):
    PENDING = "pending"
    STORED = "stored"
    FAILED = "failed"


class FamilyImage(models.Model):
    """One image URL a family's variants list, and the stored image it resolved to."""

    family = models.ForeignKey(ProductFamily, on_delete=models.CASCADE, related_name="images")
    source_url = models.URLField(max_length=1000)
    position = models.PositiveIntegerField(default=0)
    asset = models.ForeignKey(
        ImageAsset, null=True, blank=True, on_delete=models.PROTECT, related_name="family_images"
    )
    status = models.CharField(max_length=10, choices=ImageStatus.choices, default=ImageStatus.PENDING)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    run = models.ForeignKey(
        "CatalogSyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family", "position"]
        constraints = [
            models.UniqueConstraint(fields=["family", "source_url"], name="family_image_unique_url"),
        ]
        indexes = [
            models.Index(fields=["source_url", "status"], name="family_image_url_idx"),
            models.Index(fields=["run", "status"], name="family_image_run_idx"),
        ]

    def __str__(self) -> str:
        return self.source_url


class RunMode(models.TextChoices):
    QUEUED = "queued"
    DIRECT = "direct"


# What a run counts, as `sync_supplier --json` prints it (the run's integer fields, and `errors`).
COUNTERS = (
    "variants_seen",
    "records_fetched",
    "records_removed",
    "families_changed",
    "families_skipped",
    "families_done",
    "families_failed",
    "products_created",
    "products_updated",
    "images_total",
    "images_fetched",
    "images_deduplicated",
    "images_failed",
)


class CatalogSyncRun(models.Model):
    """One sync of a supplier's feed. The supplier step fills in what changed and enqueues its
    families; each family and image job adds to the counters (atomic increments: three family
    workers and ten image workers write at once); the last one to finish closes the run."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="runs")
    mode = models.CharField(max_length=10, choices=RunMode.choices, default=RunMode.QUEUED)
    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    step = models.CharField(max_length=200, blank=True)
    step_percent = models.PositiveSmallIntegerField(default=0, help_text="Of the supplier step.")
    enqueued_all = models.BooleanField(default=False, help_text="The supplier step has handed out all work.")
    variants_seen = models.PositiveIntegerField(default=0)
    records_fetched = models.PositiveIntegerField(default=0)
    records_removed = models.PositiveIntegerField(default=0)
    families_changed = models.PositiveIntegerField(default=0)
    families_skipped = models.PositiveIntegerField(default=0)
    families_done = models.PositiveIntegerField(default=0)
    families_failed = models.PositiveIntegerField(default=0)
    products_created = models.PositiveIntegerField(default=0)
    products_updated = models.PositiveIntegerField(default=0)
    images_total = models.PositiveIntegerField(default=0)
    images_fetched = models.PositiveIntegerField(default=0)
    images_deduplicated = models.PositiveIntegerField(default=0)
    images_failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="Malformed lines and records, with where.")
    more_errors = models.PositiveIntegerField(default=0, help_text="Malformed beyond those listed.")
    error = models.TextField(blank=True, help_text="Why the run failed, if it did.")
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    active_at = models.DateTimeField(null=True, blank=True, help_text="When a job last worked on it.")
    finished_at = models.DateTimeField(null=True, blank=True)

    # Set by run_start on a run already under way that a new request joined.
    joined = False

    class Meta:
        indexes = [models.Index(fields=["supplier", "-created_at"], name="catalog_run_supplier_idx")]
        constraints = [
            # "Sync now" clicked twice, or the scheduler while a run is open, joins the open run.
            models.UniqueConstraint(
                fields=["supplier"],
                condition=models.Q(status__in=["QUEUED", "RUNNING"]),
                name="catalog_run_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"catalog run #{self.pk}"

    @property
    def job_id(self) -> str:
        return f"catalog-run-{self.pk}"

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def error_count(self) -> int:
        """Malformed lines and records, families that could not be written, images that failed."""
        return len(self.errors) + self.more_errors + self.families_failed + self.images_failed

    @property
    def percent(self) -> int:
        """The supplier step is the first 30%; families and their images the rest."""
        if self.status == SyncStatus.SUCCEEDED:
            return 100
        if not self.enqueued_all:
            return min(30, self.step_percent * 30 // 100)
        total = self.families_changed + self.images_total
        done = self.families_done + self.families_failed
        done += self.images_fetched + self.images_deduplicated + self.images_failed
        return 30 + (70 * done // total if total else 70) if done < total else 99

    def counters(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTERS} | {"errors": self.error_count}


class ListingStatus(models.TextChoices):
    PENDING = "pending"
    PUSHED = "pushed"
    FAILED = "failed"
    SKIPPED = "skipped", "Skipped (the store's own listing)"
    UNSUPPORTED = "unsupported", "Not supported on this platform"


class ProductListing(models.Model):
    """A catalog product as pushed to a channel that asked for the catalog (Channel.push_catalog)."""

    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="listings")
    product = models.ForeignKey("inventory.Product", on_delete=models.CASCADE, related_name="listings")
    external_product_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=12, choices=ListingStatus.choices, default=ListingStatus.PENDING)
    pushed_hash = models.CharField(max_length=64, blank=True, help_text="Of what the store was last sent.")
    images_hash = models.CharField(max_length=64, blank=True, help_text="Of the image list last sent.")
    error = models.TextField(blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "product"], name="listing_unique_product"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} on {self.channel_id}"

    @property
    def job_id(self) -> str:
        return f"listing-{self.pk}"
