from typing import Any

from django.contrib import admin
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.http import HttpRequest

from channels_app.access import OrganizationScopedAdmin
from inventory.models import Reservation, ReservationStatus
from orders.fulfillments import fulfillment_enqueue_on_commit
from orders.models import Fulfillment, Order, OrderItem


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    fields = (
        "external_line_id",
        "sku",
        "sku_code",
        "title",
        "quantity",
        "unit_price",
        "fulfilled",
        "issue",
        "reservation",
    )
    readonly_fields = fields
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderItem]:
        # The line's latest reservation, in the same query (a line's reference is order-item:<pk>).
        latest = Reservation.objects.filter(
            reference=Concat(Value("order-item:"), Cast(OuterRef("pk"), CharField()))
        ).order_by("-pk")
        return (
            super()
            .get_queryset(request)
            .select_related("sku")
            .annotate(
                held_quantity=Subquery(latest.values("quantity")[:1]),
                held_status=Subquery(latest.values("status")[:1]),
                held_at=Subquery(latest.values("warehouse__code")[:1]),
            )
        )

    @admin.display(description="Reservation")
    def reservation(self, item: OrderItem) -> str:
        status = getattr(item, "held_status", None)
        if not status:
            return "-"
        return f"{item.held_quantity} {ReservationStatus(status).label} at {item.held_at}"  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class FulfillmentInline(admin.TabularInline):
    """Add a shipment here and it is pushed to the channel (once); one pushed is not edited."""

    model = Fulfillment
    extra = 0
    can_delete = False
    fields = (
        "tracking_number",
        "tracking_company",
        "tracking_url",
        "push_status",
        "push_attempts",
        "push_error",
        "external_id",
        "pushed_at",
        "shipment_status",
        "estimated_delivery",
    )
    readonly_fields = (
        "push_status",
        "push_attempts",
        "push_error",
        "external_id",
        "pushed_at",
        "shipment_status",
        "estimated_delivery",
    )

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(OrganizationScopedAdmin):
    list_display = (
        "number",
        "channel",
        "customer_name",
        "total",
        "currency",
        "financial_status",
        "fulfillment_status",
        "needs_attention",
        "platform_created_at",
    )
    list_filter = (
        "needs_attention",
        "financial_status",
        "fulfillment_status",
        "channel__platform",
        ("channel", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("channel",)
    search_fields = ("number", "external_id", "email", "customer_name", "items__sku_code")
    date_hierarchy = "platform_created_at"
    inlines = [OrderItemInline, FulfillmentInline]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # What the platform says, and the stock it holds, change through webhooks, not by hand:
        # every field is read-only. "Change" here is adding a fulfillment.
        return [field.name for field in Order._meta.fields]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            if isinstance(obj, Fulfillment):
                fulfillment_enqueue_on_commit(obj)
                self.message_user(
                    request, f"Fulfillment {obj.tracking_number} will be pushed to the channel."
                )
