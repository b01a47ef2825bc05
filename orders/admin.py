from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from inventory.models import Reservation
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

    @admin.display(description="Reservation")
    def reservation(self, item: OrderItem) -> str:
        reservation = Reservation.objects.filter(reference=item.reservation_reference).order_by("-pk").first()
        return (
            f"{reservation.quantity} {reservation.get_status_display()} at {reservation.warehouse}"
            if reservation
            else "-"
        )

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class FulfillmentInline(admin.TabularInline):
    model = Fulfillment
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
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
        "channel",
    )
    list_select_related = ("channel",)
    search_fields = ("number", "external_id", "email", "customer_name", "items__sku_code")
    date_hierarchy = "platform_created_at"
    raw_id_fields = ("channel", "organization", "warehouse")
    readonly_fields = ("platform_created_at", "platform_updated_at", "created_at", "updated_at", "deleted_at")
    inlines = [OrderItemInline, FulfillmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).distinct()
