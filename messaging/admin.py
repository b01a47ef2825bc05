from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from channels_app.access import OrganizationScopedAdmin, WriteOnlySecretsAdmin, organizations_of
from config.ops.access import is_ops

# The automation and campaign admins live in their own module; importing it registers them.
from messaging import campaign_admin  # noqa: F401
from messaging.contacts import ContactForm, phone_regions, phone_search
from messaging.models import (
    Checkout,
    ConsentEvent,
    Contact,
    DailyReport,
    Message,
    MessagingSettings,
    OutboxRecord,
)
from messaging.resources import ContactFilesAdmin
from messaging.validators import default_region

HISTORY_SHOWN = 20  # messages on a contact's page; the rest in the message list


class ConsentEventInline(admin.TabularInline):
    """The contact's consent ledger: append-only, newest first."""

    model = ConsentEvent
    fields = ("created_at", "state", "source", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "consent ledger"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Contact)
class ContactAdmin(ContactFilesAdmin, OrganizationScopedAdmin):
    form = ContactForm
    list_display = ("phone", "name", "organization", "consent", "consent_source", "consent_at", "time_zone")
    list_filter = ("consent", "consent_source")
    list_select_related = ("organization",)
    search_fields = ("=phone", "name", "email")
    search_help_text = "A number written any way ((415) 555-0101, 4155550101), a name or an email."
    inlines = [ConsentEventInline]
    show_full_result_count = False
    change_form_template = "admin/messaging/contact/change_form.html"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        by_number = phone_search(search_term, phone_regions(organizations_of(request)))
        if by_number is not None:
            found = found | queryset.filter(by_number)
        return found, duplicates

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The contact's messages, newest first: the last few, and a link to all of them."""
        contact = self.get_object(request, object_id)
        if contact is not None:
            history = Message.objects.filter(contact=contact).select_related("campaign", "automation")
            extra_context = {
                **(extra_context or {}),
                "message_history": history.order_by("-created_at", "-pk")[:HISTORY_SHOWN],
                "message_count": history.count(),
                "message_list_url": reverse("admin:messaging_message_changelist")
                + f"?contact__id__exact={contact.pk}",
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> Any:
        # Consent changes only through the ledger (an import, an inbound keyword), never by hand.
        return ("consent", "consent_source", "consent_at", "opted_out_at", "created_at")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deleting the contact would delete its consent ledger with it, and a STOP must never be
        # forgotten.
        return False


class MessagingSettingsForm(forms.ModelForm):
    """The Twilio auth token is written, never shown back: blank keeps what is stored."""

    twilio_auth_token = forms.CharField(
        required=False, widget=forms.PasswordInput, help_text="Leave blank to keep the stored token."
    )
    phone_region = forms.CharField(
        required=False,
        max_length=2,
        help_text="Country (ISO 3166, e.g. US, GB) of numbers written without their +country code, "
        "in contact forms, imports, searches and inbound messages; blank keeps it as it is.",
    )

    class Meta:
        model = MessagingSettings
        fields = (
            "organization",
            "time_zone",
            "quiet_start",
            "quiet_end",
            "cap_messages",
            "cap_hours",
            "help_text",
            "twilio_account_sid",
            "twilio_auth_token",
            "twilio_from_number",
            "rate_limit",
            "phone_region",
            "segment_price",
            "segment_currency",
        )

    def clean_phone_region(self) -> str:
        code = self.cleaned_data["phone_region"].strip().upper()
        return code or (self.instance.phone_region if self.instance.pk else default_region())

    def clean_twilio_auth_token(self) -> str:
        return self.cleaned_data["twilio_auth_token"] or (
            self.instance.twilio_auth_token if self.instance.pk else ""
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored_token = self.instance.twilio_auth_token if self.instance.pk else ""

    def save(self, commit: bool = True) -> MessagingSettings:
        if self.instance.twilio_auth_token != self.stored_token:
            self.instance.secrets_changed_at = timezone.now()
        return super().save(commit)


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(WriteOnlySecretsAdmin, OrganizationScopedAdmin):
    form = MessagingSettingsForm
    secret_fields = ("twilio_auth_token",)
    list_display = ("organization", "time_zone", "quiet_start", "quiet_end", "cap_messages", "cap_hours")
    list_select_related = ("organization",)

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        # How fast the hub sends on a shared account is for ops, not merchants.
        return fields if is_ops(request) or request.user.is_superuser else (*fields, "rate_limit")


@admin.register(Message)
class MessageAdmin(OrganizationScopedAdmin):
    list_display = (
        "contact",
        "status",
        "suppression_reason",
        "campaign",
        "automation",
        "send_after",
        "sent_at",
    )
    list_filter = ("status", "suppression_reason", "transactional")
    list_select_related = ("contact", "campaign", "automation")
    search_fields = ("=contact__phone", "=provider_id", "body")
    readonly_fields = [f.name for f in Message._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(OutboxRecord)
class OutboxRecordAdmin(OrganizationScopedAdmin):
    """What SMS_BACKEND=local "sent"."""

    organization_path = "message__organization"
    list_display = ("created_at", "to", "body", "message")
    search_fields = ("=to", "body")
    readonly_fields = ("message", "to", "body", "created_at")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(DailyReport)
class DailyReportAdmin(OrganizationScopedAdmin):
    """Each day's messages per organization: sent, delivered, failed, suppressed by reason."""

    list_display = (
        "day",
        "organization",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "suppressed_by_reason",
    )
    list_filter = ("day",)
    list_select_related = ("organization",)
    readonly_fields = [f.name for f in DailyReport._meta.fields]
    date_hierarchy = "day"

    @admin.display(description="Suppressed")
    def suppressed_by_reason(self, report: DailyReport) -> str:
        return ", ".join(f"{n} {reason}" for reason, n in sorted(report.suppressed.items())) or "0"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Checkout)
class CheckoutAdmin(OrganizationScopedAdmin):
    """Checkouts the platforms reported: waiting (due), abandoned (automations ran) or completed."""

    list_display = (
        "token",
        "channel",
        "contact",
        "total",
        "currency",
        "due_at",
        "abandoned_at",
        "completed_at",
    )
    list_filter = ("channel",)
    list_select_related = ("channel", "contact")
    search_fields = ("=token", "=external_id", "=contact__phone")
    readonly_fields = [f.name for f in Checkout._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
