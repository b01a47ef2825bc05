"""The admin of what sends templated messages: automations and campaigns (a campaign's send
confirmation, its progress as it goes, its cancellation)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import ngettext

from channels_app.access import OrganizationScopedAdmin
from config.progress import RefreshWhileRunning, progress_html
from messaging.campaigns import AudienceError, campaign_cancel, campaign_report, campaign_send
from messaging.estimates import audience_size, send_plan
from messaging.models import Automation, Campaign, CampaignStatus, MessageStatus
from messaging.rendering import SAMPLE, TemplateError, render
from messaging.segments import segments_of


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
        return format_html("<pre class='template-preview'>{}</pre> {}", text, segments_of(text))


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
        """Whether any of these is going out: sending, or scheduled and due (sent now, or its time
        has come). One scheduled for next week is not, or its list would poll all week."""
        now = timezone.now()
        due = Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now)
        # Fanned out (SENT) is not done while its messages are going out; those deferred past
        # quiet hours are not going out yet, and wait without the page asking about them.
        going = Q(messages__status=MessageStatus.SENDING) | Q(
            Q(messages__send_after__isnull=True) | Q(messages__send_after__lte=now),
            messages__status=MessageStatus.QUEUED,
        )
        return queryset.filter(
            Q(status=CampaignStatus.SENDING)
            | Q(due, status=CampaignStatus.SCHEDULED)
            | Q(going, status=CampaignStatus.SENT)
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
