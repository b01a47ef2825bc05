import json
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE
from django.db.models import Count, Max, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from channels_app.access import OrganizationScopedAdmin, OrganizationScopedInline, WriteOnlySecretsAdmin
from channels_app.channel_form import (
    CREDENTIAL_FIELDS,
    STORE_PLATFORMS,
    ChannelForm,
    fields_for,
    platform_of,
)
from channels_app.mapping_views import MappingViews
from channels_app.models import (
    Channel,
    ChannelLocation,
    EventStatus,
    Organization,
    Platform,
    ProcessedWebhookEvent,
    SyncKind,
    SyncRun,
    WebhookSubscription,
)
from channels_app.platforms.shopify.versions import SEEN_WITHIN, version_warnings, versions_seen
from channels_app.services import catalog_push_turned_on
from channels_app.sweeper import event_replay
from channels_app.sync import channel_verify, sync_start
from config.ops.access import audit, is_ops
from config.progress import RefreshWhileRunning, progress_html


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_path = "pk"
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("members",)


class ChannelLocationInline(OrganizationScopedInline):
    model = ChannelLocation
    extra = 0


class WebhookSubscriptionInline(admin.TabularInline):
    """What the platform was last seen sending (registered by the "Register webhooks" action)."""

    model = WebhookSubscription
    extra = 0
    can_delete = False
    fields = (
        "topic",
        "state",
        "api_version",
        "callback_url",
        "registered_at",
        "checked_at",
        "gap_since",
        "error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Channel)
class ChannelAdmin(MappingViews, WriteOnlySecretsAdmin, OrganizationScopedAdmin):
    form = ChannelForm
    secret_fields = ("webhook_secret", "previous_webhook_secret", *CREDENTIAL_FIELDS)
    list_display = (
        "name",
        "platform",
        "shop_identifier",
        "organization",
        "is_active",
        "connection",
        "last_webhook",
        "events_24h",
    )
    list_filter = ("platform", "is_active", "connection_ok")
    list_select_related = ("organization",)
    search_fields = ("name", "shop_identifier", "organization__name")
    readonly_fields = (
        "webhook_url",
        "connection",
        "api_versions",
        "recent_runs",
        "mapping_links",
        "created_at",
        "updated_at",
    )
    inlines = [ChannelLocationInline, WebhookSubscriptionInline]
    actions = ["verify_connection", "register_webhooks", "import_products"]

    # Filters on these would let a merchant guess a write-only secret a character at a time from
    # the result count (Django allows any lookup on a model's own fields in the query string).
    SECRET_FIELDS = ("webhook_secret", "previous_webhook_secret", "credentials")

    def save_model(self, request: HttpRequest, obj: Channel, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.push_catalog and "push_catalog" in form.changed_data:
            catalog_push_turned_on.send(sender=Channel, channel=obj)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.split("__", 1)[0] in self.SECRET_FIELDS:
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_fields(self, request: HttpRequest, obj: Channel | None = None) -> Any:
        return fields_for(platform_of(request, obj), list(super().get_fields(request, obj)))

    def get_inlines(self, request: HttpRequest, obj: Channel | None) -> Any:
        return self.inlines if platform_of(request, obj) in STORE_PLATFORMS else []

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        # Where the hub sends API calls (and tokens) is for ops to point elsewhere, not merchants.
        return fields if is_ops(request) or request.user.is_superuser else (*fields, "api_base_url")

    @admin.display(description="Connection", ordering="connection_checked_at")
    def connection(self, channel: Channel) -> str:
        if channel.connection_checked_at is None:
            return "not checked"
        verdict = "OK" if channel.connection_ok else "FAILED"
        checked = timezone.localtime(channel.connection_checked_at)
        return f"{verdict} at {checked:%Y-%m-%d %H:%M}: {channel.connection_message}"

    @admin.display(description="API versions")
    def api_versions(self, channel: Channel) -> str:
        if channel.platform != Platform.SHOPIFY:
            return "-"
        seen = versions_seen(channel)
        arriving = ", ".join(f"{version} ({n})" for version, n in seen.arriving.items()) or "none"
        subscribed = ", ".join(sorted(seen.subscribed)) or "not listed yet"
        return (
            f"The hub speaks Shopify API {settings.SHOPIFY_API_VERSION}. Deliveries of the last "
            f"{SEEN_WITHIN.days} days: {arriving}. Subscriptions: {subscribed}."
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        channel = self.get_object(request, object_id)
        if request.method == "GET" and channel is not None and channel.platform == Platform.SHOPIFY:
            for warning in version_warnings(channel):
                self.message_user(request, warning, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Recent syncs")
    def recent_runs(self, channel: Channel) -> str:
        runs = list(channel.sync_runs.order_by("-created_at")[:5])
        if not runs:
            return "none yet"
        return format_html_join(
            "",
            "<div><a href='{}'>{}</a> {} {}</div>",
            (
                (
                    reverse("admin:channels_app_syncrun_change", args=[run.pk]),
                    run,
                    run.status,
                    progress_bar(run),
                )
                for run in runs
            ),
        )

    @admin.action(description="Verify connection (one authenticated call)", permissions=["change"])
    def verify_connection(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            ok, message = channel_verify(channel)
            self.message_user(request, f"{channel}: {message}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Register webhooks", permissions=["change"])
    def register_webhooks(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        self._start(request, queryset, SyncKind.WEBHOOKS)

    @admin.action(description="Import products now", permissions=["change"])
    def import_products(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        self._start(request, queryset, SyncKind.PRODUCTS)

    def _start(self, request: HttpRequest, queryset: QuerySet[Channel], kind: str) -> None:
        runs = [sync_start(channel_id=c.pk, kind=kind, requested_by=str(request.user)) for c in queryset]
        self.message_user(
            request,
            format_html(
                "{} queued for {}: <a href='{}?kind={}'>see its progress</a>.",
                SyncKind(kind).label,
                ngettext("%(n)d channel", "%(n)d channels", len(runs)) % {"n": len(runs)},
                reverse("admin:channels_app_syncrun_changelist"),
                kind,
            ),
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Channel]:
        # Per channel, in the list's one query: its last webhook and its events per status in 24 h.
        since = timezone.now() - timedelta(hours=24)
        recent = Q(webhook_events__received_at__gte=since)
        per_status = {
            f"n_{status.lower()}": Count("webhook_events", filter=recent & Q(webhook_events__status=status))
            for status in EventStatus.values
        }
        return (
            super()
            .get_queryset(request)
            .annotate(last_received=Max("webhook_events__received_at"), **per_status)
        )

    @admin.display(description="Last webhook", ordering="last_received")
    def last_webhook(self, channel: Channel) -> object:
        return getattr(channel, "last_received", None) or "-"

    @admin.display(description="Events in 24 h")
    def events_24h(self, channel: Channel) -> str:
        counts = [(status, getattr(channel, f"n_{status.lower()}", 0)) for status in EventStatus.values]
        said = (f"{n} {EventStatus(status).label.lower()}" for status, n in counts if n)
        return ", ".join(said) or "none"


@admin.register(ProcessedWebhookEvent)
class ProcessedWebhookEventAdmin(OrganizationScopedAdmin):
    organization_path = "channel__organization"
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
    list_filter = (
        "status",
        "mapping_kind",
        "source",
        ("channel", admin.RelatedOnlyFieldListFilter),
        "topic",
        "api_version",
        "received_at",
    )
    list_select_related = ("channel",)
    # The payload's id is the platform's order (or product) id; ordersn is Shopee's order.
    search_fields = (
        "=id",
        "event_key",
        "delivery_id",
        "channel__shop_identifier",
        "request_id",
        "mapping_ref",
        "payload__id",
        "payload__data__ordersn",
    )
    date_hierarchy = "received_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in ProcessedWebhookEvent._meta.fields if f.name != "payload"] + [
        "payload_readable"
    ]
    exclude = ("payload",)

    @admin.display(description="Payload")
    def payload_readable(self, event: ProcessedWebhookEvent) -> str:
        if event.payload is None:
            return "-"
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(event.payload, indent=2))

    actions = ["replay", "mark_ignored"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProcessedWebhookEvent]:
        # The big columns, read only by the one event's page (where deferred fields load on use).
        return super().get_queryset(request).defer("payload", "raw_body", "headers")

    @admin.action(description="Re-process selected events", permissions=["ops"])
    def replay(self, request: HttpRequest, queryset: QuerySet[ProcessedWebhookEvent]) -> None:
        done = skipped = 0
        for event in (
            queryset.select_related(None)
            .exclude(status=EventStatus.PROCESSING)
            .only("pk", "status", "request_id", "payload", "channel", "topic", "source")
        ):
            if event_replay(event):
                audit(request, CHANGE, "re-processed event", obj=event)
                done += 1
            else:
                skipped += 1
        message = ngettext("%(n)d event re-enqueued", "%(n)d events re-enqueued", done) % {"n": done}
        if skipped:
            message += f"; {skipped} skipped (running, or raw body only)"
        self.message_user(request, f"{message}.")

    @admin.action(description="Mark selected events ignored", permissions=["ops"])
    def mark_ignored(self, request: HttpRequest, queryset: QuerySet[ProcessedWebhookEvent]) -> None:
        events = list(
            queryset.select_related(None)
            .exclude(status__in=[EventStatus.IGNORED, EventStatus.PROCESSING])
            .only("pk", "topic", "source")
        )
        ProcessedWebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(
            status=EventStatus.IGNORED,
            ignored_reason=f"marked ignored by {request.user}",
            updated_at=timezone.now(),
        )
        for event in events:
            audit(request, CHANGE, "marked event ignored", obj=event)
        n = len(events)
        self.message_user(
            request, ngettext("%(n)d event marked ignored.", "%(n)d events marked ignored.", n) % {"n": n}
        )

    def has_ops_permission(self, request: HttpRequest) -> bool:
        return is_ops(request)


def progress_bar(run: SyncRun) -> str:
    percent = run.percent
    if percent is None:
        return format_html("<span>{} done</span>", run.done)
    return progress_html(percent, f"{run.done} of {run.total if run.total is not None else '?'}")


@admin.register(SyncRun)
class SyncRunAdmin(RefreshWhileRunning):
    organization_path = "channel__organization"
    list_display = ("id", "channel", "kind", "status", "progress", "step", "started_at", "finished_at")
    list_filter = ("kind", "status", ("channel", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("channel",)
    search_fields = ("=id", "channel__name", "channel__shop_identifier", "error")
    readonly_fields = [f.name for f in SyncRun._meta.fields] + ["progress"]
    show_full_result_count = False

    @admin.display(description="Progress")
    def progress(self, run: SyncRun) -> str:
        return progress_bar(run)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Runs are started by the channel actions and `sync_channel`, never by hand.

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
