from __future__ import annotations

from django.db import models
from django.db.models import Q


class Warehouse(models.Model):
    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="warehouses"
    )
    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=200, blank=True)
    is_default = models.BooleanField(
        default=False, help_text="Where orders reserve stock when their channel location has no warehouse."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="warehouse_unique_code"),
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_default=True), name="warehouse_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.code


class Product(models.Model):
    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="products"
    )
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.title


class SKU(models.Model):
    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="skus"
    )
    code = models.CharField(max_length=100)
    title = models.CharField(max_length=255, blank=True)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="skus"
    )
    price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, help_text="ISO 4217; blank for the shop's own.")
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Colour, size, ... as the supplier names them."
    )
    reorder_point = models.PositiveIntegerField(
        default=0,
        help_text="Low stock at or below this many units available in a warehouse; 0: no reorder point.",
    )

    class Meta:
        verbose_name = "SKU"
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="sku_unique_code")]

    def __str__(self) -> str:
        return self.code


class ChannelVariant(models.Model):
    """A channel's product variant mapped to one of our SKUs (how order lines and stock resolve)."""

    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="variants")
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="channel_variants")
    external_product_id = models.CharField(max_length=100, blank=True)
    external_variant_id = models.CharField(max_length=100)
    external_inventory_item_id = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_variant_id"], name="variant_unique_per_channel"
            ),
        ]
        indexes = [
            # Shopify inventory_levels/update names the inventory item, not the variant.
            models.Index(fields=["channel", "external_inventory_item_id"], name="variant_inventory_item_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.external_variant_id} -> {self.sku_id}"


class StockLevel(models.Model):
    """On hand and reserved units of a SKU in a warehouse; changed only by inventory.services."""

    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="stock_levels")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    channel_reported_at = models.DateTimeField(
        null=True, blank=True, help_text="When a channel last reported this level: older reports are ignored."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sku", "warehouse"], name="stock_level_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} @ {self.warehouse}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class MovementReason(models.TextChoices):
    IMPORT = "import", "Import"
    CHANNEL = "channel", "Channel stock update"
    ADJUSTMENT = "adjustment", "Adjustment"
    FULFILLMENT = "fulfillment", "Fulfillment"
    COUNT = "count", "Stock count"
    RECEIVED = "received", "Goods received"
    DAMAGED = "damaged", "Damaged or lost"


# What a merchant may give as the reason of a level changed by hand (the others are the hub's own).
MANUAL_REASONS = (
    MovementReason.COUNT,
    MovementReason.RECEIVED,
    MovementReason.DAMAGED,
    MovementReason.ADJUSTMENT,
)


class StockMovement(models.Model):
    """The append-only ledger: a level's on_hand is the sum of its movements."""

    # PROTECT: the ledger outlives nothing it records; a SKU with history is not deleted.
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="movements")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements")
    quantity = models.IntegerField(help_text="Change of on hand units (negative: out).")
    on_hand_after = models.IntegerField()
    reason = models.CharField(max_length=20, choices=MovementReason.choices)
    reference = models.CharField(
        max_length=255, blank=True, help_text="What caused it: event, order, import."
    )
    note = models.CharField(
        max_length=500, blank=True, help_text="Why, in the words of who changed it by hand."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["sku", "warehouse", "created_at"], name="movement_level_idx")]

    def __str__(self) -> str:
        return f"{self.quantity:+d} {self.sku_id}@{self.warehouse_id} ({self.reason})"


class ReservationStatus(models.TextChoices):
    OPEN = "open", "Open"
    RELEASED = "released", "Released"
    CONSUMED = "consumed", "Consumed"


class Reservation(models.Model):
    """Units held for an order line; `reference` names what holds them (e.g. order-item:42)."""

    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="reservations")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    reference = models.CharField(max_length=255, db_index=True)
    channel = models.ForeignKey(
        "channels_app.Channel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reservations",
        help_text="The sales channel whose order holds the units.",
    )
    status = models.CharField(
        max_length=20, choices=ReservationStatus.choices, default=ReservationStatus.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # A channel's open holds per level: what its stock reports add back (inventory.inbound).
            models.Index(
                fields=["channel", "sku", "warehouse", "status"], name="reservation_channel_level_idx"
            ),
        ]
        constraints = [
            # What holds units: one open reservation per reference (released ones are history).
            models.UniqueConstraint(
                fields=["reference"], condition=Q(status="open"), name="reservation_one_open_per_reference"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku_id} for {self.reference} ({self.status})"


class ChannelStock(models.Model):
    """What a channel shows of a SKU at one of its locations, as far as the hub knows: the last
    figure it reported or the hub pushed. A push of the same figure is skipped, and a report that
    only echoes the hub's own push changes nothing."""

    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="stock")
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="channel_stock")
    location_external_id = models.CharField(
        max_length=100, blank=True, help_text="Blank: the channel's one stock."
    )
    known_available = models.IntegerField(null=True, blank=True)
    last_pushed = models.IntegerField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    channel_set_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the channel applied the hub's last push, by the channel's clock: a figure "
        "it reports as of earlier was read before that push.",
    )
    push_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "channel stock"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "sku", "location_external_id"], name="channel_stock_unique_location"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} on {self.channel_id}@{self.location_external_id or '-'}: {self.known_available}"
