from __future__ import annotations

from django.db import models


class FinancialStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AUTHORIZED = "authorized", "Authorized"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    VOIDED = "voided", "Voided"


class FulfillmentStatus(models.TextChoices):
    UNFULFILLED = "unfulfilled", "Unfulfilled"
    PARTIAL = "partial", "Partially fulfilled"
    FULFILLED = "fulfilled", "Fulfilled"


# Payment secured: stock is held for the order from here on.
RESERVING_STATUSES = {
    FinancialStatus.AUTHORIZED,
    FinancialStatus.PARTIALLY_PAID,
    FinancialStatus.PAID,
    FinancialStatus.PARTIALLY_REFUNDED,
}
# Money gone back: what the order held goes back to stock.
RELEASING_STATUSES = {FinancialStatus.REFUNDED, FinancialStatus.VOIDED}


class Order(models.Model):
    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="orders"
    )
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="orders")
    external_id = models.CharField(max_length=100)
    number = models.CharField(max_length=100, blank=True)
    customer_name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    shipping_address = models.JSONField(default=dict, blank=True)
    billing_address = models.JSONField(default=dict, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    subtotal = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    total_tax = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    total_discounts = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    financial_status = models.CharField(
        max_length=20, choices=FinancialStatus.choices, default=FinancialStatus.PENDING
    )
    fulfillment_status = models.CharField(
        max_length=20, choices=FulfillmentStatus.choices, default=FulfillmentStatus.UNFULFILLED
    )
    platform_status = models.CharField(max_length=50, blank=True, help_text="The platform's own status word.")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=100, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Deleted on the platform.")
    warehouse = models.ForeignKey(
        "inventory.Warehouse", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    needs_attention = models.BooleanField(
        default=False, help_text="A line is unresolved, backordered or has no warehouse: see its items."
    )
    platform_created_at = models.DateTimeField(null=True, blank=True)
    platform_updated_at = models.DateTimeField(null=True, blank=True)
    last_event_id = models.BigIntegerField(
        null=True, blank=True, help_text="The webhook event last applied (orders updates of the same second)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="order_unique_per_channel"),
        ]
        indexes = [
            models.Index(fields=["organization", "-platform_created_at"], name="order_org_created_idx")
        ]

    def __str__(self) -> str:
        return self.number or self.external_id

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None or self.deleted_at is not None


class LineIssue(models.TextChoices):
    NONE = "", "None"
    UNRESOLVED_SKU = "unresolved_sku", "SKU not found"
    BACKORDERED = "backordered", "Backordered: not enough stock"
    NO_WAREHOUSE = "no_warehouse", "No warehouse to reserve from"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    external_line_id = models.CharField(max_length=100)
    external_variant_id = models.CharField(max_length=100, blank=True)
    sku = models.ForeignKey(
        "inventory.SKU", null=True, blank=True, on_delete=models.PROTECT, related_name="order_items"
    )
    sku_code = models.CharField(max_length=100, blank=True, help_text="The SKU as the platform sent it.")
    title = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    fulfilled = models.BooleanField(default=False)
    issue = models.CharField(max_length=20, choices=LineIssue.choices, blank=True, default=LineIssue.NONE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "external_line_id"], name="order_item_unique_line"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku_code or self.title}"

    @property
    def reservation_reference(self) -> str:
        return f"order-item:{self.pk}"


class PushStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be pushed"
    PUSHING = "pushing", "Being pushed"
    PUSHED = "pushed", "Pushed to the channel"
    FAILED = "failed", "Push failed"


class Fulfillment(models.Model):
    """A shipment of an order. One created in the hub (admin or `fulfill`) is pushed to the channel
    once: Shopify fulfillment orders + fulfillmentCreate, WooCommerce completed + a tracking note,
    Shopee's ship call."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fulfillments")
    external_id = models.CharField(max_length=100, blank=True, help_text="The platform's id, once pushed.")
    tracking_number = models.CharField(max_length=100, blank=True)
    tracking_company = models.CharField(max_length=100, blank=True)
    tracking_url = models.URLField(blank=True)
    push_status = models.CharField(max_length=20, choices=PushStatus.choices, default=PushStatus.PENDING)
    push_attempts = models.PositiveIntegerField(default=0)
    push_error = models.TextField(blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    # What the carrier last said (EasyPost or AfterShip webhooks).
    shipment_status = models.CharField(max_length=50, blank=True)
    shipment_status_detail = models.CharField(max_length=200, blank=True)
    estimated_delivery = models.DateTimeField(null=True, blank=True)
    tracking_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.order} {self.tracking_number}"

    @property
    def job_id(self) -> str:
        return f"fulfillment-{self.pk}"


class CommerceEventKind(models.TextChoices):
    ORDER_PAID = "order_paid", "Order paid"
    FULFILLMENT_CREATED = "fulfillment_created", "Fulfillment created"
    FULFILLMENT_SHIPPED = "fulfillment_shipped", "Order shipped (tracking)"
    ORDER_CANCELLED = "order_cancelled", "Order cancelled"


class CommerceEvent(models.Model):
    """An order or fulfillment event, an outbox row written in the order's own transaction
    (`orders.events.commerce_event_record`). Messaging reads it: it hands the event on once that
    transaction commits, and if Redis was down then, its sweep sends it later. Nothing the orders
    app says is lost."""

    kind = models.CharField(max_length=30, choices=CommerceEventKind.choices)
    key = models.CharField(max_length=200, unique=True, help_text="One event, however often it is said.")
    order_id = models.BigIntegerField()
    fulfillment_id = models.BigIntegerField(null=True, blank=True)
    forwarded_at = models.DateTimeField(null=True, blank=True, help_text="Handed to messaging-events.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Made by messaging's migration 0004 and moved here as it was: the table keeps its name.
        db_table = "messaging_commerceevent"
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(forwarded_at__isnull=True),
                name="commerce_event_waiting_idx",
            )
        ]

    def __str__(self) -> str:
        return self.key
