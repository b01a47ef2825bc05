from django.contrib import admin

from channels_app.models import Channel, ChannelLocation, Organization, ProcessedWebhookEvent


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("members",)


class ChannelLocationInline(admin.TabularInline):
    model = ChannelLocation
    extra = 0


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "platform", "shop_identifier", "organization", "is_active", "created_at")
    list_filter = ("platform", "is_active")
    list_select_related = ("organization",)
    search_fields = ("name", "shop_identifier", "organization__name")
    readonly_fields = ("webhook_url", "created_at", "updated_at")
    # Secrets are set from the create_channel command or the channel form, never listed.
    exclude = ("credentials",)
    inlines = [ChannelLocationInline]


@admin.register(ProcessedWebhookEvent)
class ProcessedWebhookEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "source",
        "topic",
        "channel",
        "status",
        "attempts",
        "duplicate_count",
        "received_at",
    )
    list_filter = ("status", "source", "topic", "received_at")
    list_select_related = ("channel",)
    search_fields = ("event_key", "delivery_id", "channel__shop_identifier", "request_id")
    raw_id_fields = ("channel",)
    date_hierarchy = "received_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in ProcessedWebhookEvent._meta.fields]
