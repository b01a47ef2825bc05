from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from channels_app.access import OrganizationScopedAdmin
from messaging.models import ConsentEvent, Contact, MessagingSettings


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


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(OrganizationScopedAdmin):
    list_display = ("organization", "time_zone", "quiet_start", "quiet_end", "cap_messages", "cap_hours")
    list_select_related = ("organization",)
    exclude = ("twilio_auth_token",)
