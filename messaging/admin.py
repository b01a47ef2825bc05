from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import ngettext

from channels_app.access import OrganizationScopedAdmin, WriteOnlySecretsAdmin, organizations_of
from config.ops.access import is_ops
from config.progress import RefreshWhileRunning, progress_html
from messaging.campaigns import AudienceError, campaign_cancel, campaign_report, campaign_send
from messaging.contacts import ContactForm, phone_regions, phone_search
from messaging.estimates import audience_size, send_plan
from messaging.models import (
    Automation,
    Campaign,
    CampaignStatus,
    Checkout,
    ConsentEvent,
    Contact,
    DailyReport,
    Message,
    MessageStatus,
    MessagingSettings,
    OutboxRecord,
)
from messaging.rendering import SAMPLE, TemplateError, render
from messaging.resources import ContactFilesAdmin
from messaging.segments import segments_of
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


class TemplateForm(forms.ModelForm):
    """A template is checked, and previewed with sample data, when saved."""

    SAMPLE = SAMPLE

    def clean_template(self) -> str:
        template = self.cleaned_data["template"]
        try:
            self.preview = render(template, self.SAMPLE)
        except TemplateError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return template


class PreviewMixin:
    @admin.display(description="Preview (sample data)")
    def preview(self, obj: Any) -> str:
        if not obj or not obj.template:
            return "-"
        try:
            text = render(obj.template, TemplateForm.SAMPLE)
        except TemplateError as exc:
            return format_html("<span class='errornote'>{}</span>", exc)
        return format_html("<pre style='white-space:pre-wrap'>{}</pre> {}", text, segments_of(text))


@admin.register(Automation)
class AutomationAdmin(PreviewMixin, OrganizationScopedAdmin):
    form = TemplateForm
    list_display = ("name", "organization", "trigger", "delay_minutes", "transactional", "is_active")
    list_filter = ("trigger", "is_active", "transactional")
    list_select_related = ("organization",)
    search_fields = ("name",)
    readonly_fields = ("preview",)


@admin.register(Campaign)
class CampaignAdmin(PreviewMixin, RefreshWhileRunning):
    form = TemplateForm
    list_display = ("name", "organization", "status", "scheduled_at", "progress", "report")
    list_filter = ("status",)
    list_select_related = ("organization",)
    search_fields = ("name",)
    readonly_fields = (
        "preview",
        "recipients",
        "status",
        "progress",
        "report",
        "audience_total",
        "started_at",
        "finished_at",
    )
    exclude = ("materialized", "resume_after")
    actions = ["send_now", "schedule", "cancel"]
    OPEN = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)

    @admin.display(description="Recipients now")
    def recipients(self, campaign: Campaign) -> str:
        """Who the saved audience reaches today (the page is read before sending)."""
        if not campaign.pk:
            return "-"
        try:
            return str(audience_size(campaign))
        except AudienceError as exc:
            return str(exc)

    def running(self, queryset: QuerySet[Campaign]) -> bool:
        # Fanned out (SENT) is not done: its messages are still going out, or waiting for the
        # end of their quiet hours.
        unfinished = [MessageStatus.QUEUED, MessageStatus.SENDING]
        return queryset.filter(
            Q(status__in=self.OPEN) | Q(status=CampaignStatus.SENT, messages__status__in=unfinished)
        ).exists()

    @admin.display(description="Progress")
    def progress(self, campaign: Campaign) -> str:
        """Its messages done (sent, suppressed, failed) out of its audience, as they go."""
        by_status = campaign_report(campaign)["by_status"]
        done = sum(
            n
            for status, n in by_status.items()
            if status not in (MessageStatus.QUEUED, MessageStatus.SENDING)
        )
        total = campaign.audience_total
        if campaign.status == CampaignStatus.SENT and not campaign.materialized:
            return progress_html(100, "sent to 0 contacts: its audience matched no one")
        if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED) or not total:
            return progress_html(0, "not started" if not done else f"{done} done")
        caption = f"{done} of {total} done"
        if campaign.status == CampaignStatus.SENDING:
            caption += f"; {campaign.materialized} of {total} made"
        return progress_html(min(100, 100 * done // total), caption)

    @admin.display(description="Messages")
    def report(self, campaign: Campaign) -> str:
        counts = campaign_report(campaign)
        by_status = ", ".join(f"{n} {status}" for status, n in counts["by_status"].items()) or "none yet"
        reasons = ", ".join(f"{n} {reason}" for reason, n in counts["suppressed_by_reason"].items())
        return by_status + (f" (suppressed: {reasons})" if reasons else "")

    @admin.action(description="Send now", permissions=["change"])
    def send_now(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse | None:
        return self._send(request, queryset, at_scheduled=False)

    @admin.action(description="Schedule at their 'scheduled at'", permissions=["change"])
    def schedule(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse | None:
        return self._send(request, queryset, at_scheduled=True)

    def _send(
        self, request: HttpRequest, queryset: QuerySet[Campaign], *, at_scheduled: bool
    ) -> HttpResponse | None:
        if request.POST.get("post") != "yes":
            return self._confirm_send(request, queryset, at_scheduled=at_scheduled)
        started = 0
        with transaction.atomic():
            for campaign in queryset.filter(status=CampaignStatus.DRAFT):
                if at_scheduled and not campaign.scheduled_at:
                    self.message_user(
                        request, f"{campaign.name}: set 'scheduled at' first.", messages.WARNING
                    )
                    continue
                try:
                    campaign_send(campaign, campaign.scheduled_at if at_scheduled else None)
                except AudienceError as exc:
                    self.message_user(request, f"{campaign.name}: {exc}", messages.ERROR)
                    continue
                started += 1
        campaigns = ngettext("%(n)d campaign", "%(n)d campaigns", started) % {"n": started}
        self.message_user(request, f"{campaigns} {'scheduled' if at_scheduled else 'sending'}.")
        return None

    def _confirm_send(
        self, request: HttpRequest, queryset: QuerySet[Campaign], *, at_scheduled: bool
    ) -> HttpResponse:
        """Like Django's delete confirmation: what each campaign would do (recipients, segments
        per message, total segments, estimated cost), and a button that sends those that can go."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Schedule these campaigns?" if at_scheduled else "Send these campaigns now?",
            "opts": self.opts,
            "action": "schedule" if at_scheduled else "send_now",
            "plan": send_plan(queryset.order_by("pk"), SAMPLE, at_scheduled=at_scheduled),
        }
        return TemplateResponse(request, "admin/messaging/campaign/confirm_send.html", context)

    @admin.action(description="Cancel (suppress what is not sent yet)", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        suppressed = sum(campaign_cancel(campaign) for campaign in queryset)
        self.message_user(
            request,
            ngettext("Cancelled; %(n)d message not sent.", "Cancelled; %(n)d messages not sent.", suppressed)
            % {"n": suppressed},
        )


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
