from typing import Any

from django.contrib import admin
from django.db.models import CharField, Count, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from channels_app.access import OrganizationScopedAdmin
from inventory.models import Reservation, ReservationStatus
from orders.addresses import address_lines
from orders.export import orders_csv
from orders.fulfillments import fulfillment_enqueue_on_commit
from orders.models import Fulfillment, LineIssue, Order, OrderItem

# Line issues, as the order list counts them (one annotation each: no query per row).
ISSUES = [issue for issue in LineIssue if issue != LineIssue.NONE]


def problem_html(text: str) -> str:
    """A problem looks like one: the admin's own alert icon, never a green tick."""
    return format_html('<img src="{}" alt="Problem"> {}', static("admin/img/icon-alert.svg"), text)


def address_html(address: dict[str, Any]) -> str:
    lines = address_lines(address)
    if not lines:
        return "-"
    return format_html("<address>{}</address>", format_html_join("", "{}<br>", ((line,) for line in lines)))


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
        "problem",
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

    @admin.display(description="Problem")
    def problem(self, item: OrderItem) -> str:
        return problem_html(item.get_issue_display()) if item.issue else "-"

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
        "problem",
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
    # A line's title and SKU (as the platform sent it, and the hub's own) find its orders too.
    search_fields = (
        "number",
        "external_id",
        "email",
        "customer_name",
        "items__sku_code",
        "items__title",
        "items__sku__code",
    )
    date_hierarchy = "platform_created_at"
    inlines = [OrderItemInline, FulfillmentInline]
    actions = ["export_csv"]
    # Shown by the display methods below instead (addresses as addresses, the flag as the problem
    # it flags, never a green tick), and then no field of the form at all.
    SHOWN_AS = {"shipping_address": "shipping", "billing_address": "billing", "needs_attention": "problem"}
    exclude = tuple(SHOWN_AS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        # Subqueries, not Count over a join: a search on line titles joins the lines again, and
        # would multiply the counts.
        counts = {
            f"n_{issue.value}": Subquery(
                OrderItem.objects.filter(order=OuterRef("pk"), issue=issue)
                .values("order")
                .annotate(n=Count("pk"))
                .values("n")[:1]
            )
            for issue in ISSUES
        }
        return super().get_queryset(request).annotate(**counts)

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # What the platform says, and the stock it holds, change through webhooks, not by hand:
        # every field is read-only. "Change" here is adding a fulfillment.
        return [self.SHOWN_AS.get(field.name, field.name) for field in Order._meta.fields]

    @admin.display(description="Problem", ordering="-needs_attention")
    def problem(self, order: Order) -> str:
        found = [(issue, getattr(order, f"n_{issue.value}", None) or 0) for issue in ISSUES]
        said = [
            ngettext("%(n)d line: %(issue)s", "%(n)d lines: %(issue)s", n) % {"n": n, "issue": issue.label}
            for issue, n in found
            if n
        ]
        if said:
            return problem_html("; ".join(said))
        return problem_html("needs attention") if order.needs_attention else "-"

    @admin.display(description="Shipping address")
    def shipping(self, order: Order) -> str:
        return address_html(order.shipping_address)

    @admin.display(description="Billing address")
    def billing(self, order: Order) -> str:
        return address_html(order.billing_address)

    @admin.action(description="Export selected orders as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse:
        orders = (
            queryset.select_related("channel")
            .prefetch_related("items")
            .order_by("-platform_created_at", "pk")
        )
        response = HttpResponse(orders_csv(orders), content_type="text/csv; charset=utf-8")
        filename = f"orders-{timezone.localdate():%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            if isinstance(obj, Fulfillment):
                fulfillment_enqueue_on_commit(obj)
                self.message_user(
                    request, f"Fulfillment {obj.tracking_number} will be pushed to the channel."
                )
