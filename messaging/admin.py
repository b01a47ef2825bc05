from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from channels_app.access import OrganizationScopedAdmin
from messaging.models import (
    Automation,
    Campaign,
    ConsentEvent,
    Contact,
    Message,
    MessagingSettings,
    OutboxRecord,
)


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
class ContactAdmin(OrganizationScopedAdmin):
    list_display = ("phone", "name", "organization", "consent", "consent_source", "consent_at", "time_zone")
    list_filter = ("consent", "consent_source")
    list_select_related = ("organization",)
    search_fields = ("=phone", "name")
    inlines = [ConsentEventInline]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> Any:
        # Consent changes only through the ledger (an import, an inbound keyword), never by hand.
        return ("consent", "consent_source", "consent_at", "opted_out_at", "created_at")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the ledger goes with the contact: a STOP must never be forgotten


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(OrganizationScopedAdmin):
    list_display = ("organization", "time_zone", "quiet_start", "quiet_end", "cap_messages", "cap_hours")
    list_select_related = ("organization",)
    exclude = ("twilio_auth_token",)


@admin.register(Automation)
class AutomationAdmin(OrganizationScopedAdmin):
    list_display = ("name", "organization", "trigger", "delay_minutes", "transactional", "is_active")
    list_filter = ("trigger", "is_active", "transactional")
    list_select_related = ("organization",)
    search_fields = ("name",)


@admin.register(Campaign)
class CampaignAdmin(OrganizationScopedAdmin):
    list_display = ("name", "organization", "status", "scheduled_at", "audience_total", "materialized")
    list_filter = ("status",)
    list_select_related = ("organization",)
    search_fields = ("name",)
    readonly_fields = ("status", "audience_total", "materialized", "started_at", "finished_at")


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
