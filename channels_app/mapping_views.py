"""The merchant's mapping screens, inside the Channel admin (mixed into channels_app.admin's
ChannelAdmin): what webhook events wait for (NEEDS_MAPPING), mapped with a choice of warehouse or
SKU; and the variant picker, which maps a SKU to a variant chosen from the channel's own list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import ngettext

from channels_app import http
from channels_app.access import scope
from channels_app.clients import ConsoleOnly, RemoteVariant, client_for
from channels_app.mapping import inventory_item_map, location_map, variant_pick, waiting_for_mapping
from channels_app.models import Channel, MappingKind
from config.ops.access import audit
from inventory.models import SKU, Warehouse


class SKUChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.code} — {obj.title}" if obj.title else obj.code


def mapping_form(channel: Channel, kind: MappingKind, data: Any = None) -> forms.Form:
    """A choice of the channel's organization's warehouses (for a location) or SKUs (an item)."""
    form = forms.Form(data)
    if kind is MappingKind.LOCATION:
        warehouses = Warehouse.objects.filter(organization_id=channel.organization_id).order_by("code")
        form.fields["target"] = forms.ModelChoiceField(warehouses, label="Warehouse")
    else:
        skus = SKU.objects.filter(organization_id=channel.organization_id).order_by("code")
        form.fields["target"] = SKUChoice(skus, label="SKU")
    return form


def replayed_message(mapped: str, replayed: int) -> str:
    events = ngettext("%(n)d waiting event runs", "%(n)d waiting events run", replayed) % {"n": replayed}
    return f"Mapped {mapped}: {events} again."


class MappingViews(admin.ModelAdmin):
    """URLs and views of the mapping screens; each needs the permission to change the channel."""

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "needs-mapping/",
                self.admin_site.admin_view(self.needs_mapping_view),
                name="channels_app_channel_needs_mapping",
            ),
            path(
                "<int:channel_id>/map/<str:kind>/<str:ref>/",
                self.admin_site.admin_view(self.map_view),
                name="channels_app_channel_map",
            ),
            path(
                "<int:channel_id>/variants/",
                self.admin_site.admin_view(self.variant_picker_view),
                name="channels_app_channel_variants",
            ),
        ]
        return own + super().get_urls()

    def _channels(self, request: HttpRequest) -> Any:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return scope(request, Channel.objects.all(), "organization")

    def _channel(self, request: HttpRequest, channel_id: int) -> Channel:
        channel = self._channels(request).filter(pk=channel_id).first()
        if channel is None:
            raise Http404("no such channel")  # Another organization's channel is not found either.
        return channel

    def _render(self, request: HttpRequest, template: str, title: str, **context: Any) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context}
        return render(request, f"admin/channels_app/{template}", context)

    def needs_mapping_view(self, request: HttpRequest) -> HttpResponse:
        channels = self._channels(request)
        names = dict(channels.values_list("pk", "name"))
        rows = [(waiting, names[waiting.channel_id]) for waiting in waiting_for_mapping(channels)]
        return self._render(request, "needs_mapping.html", "Needs mapping", rows=rows)

    def map_view(self, request: HttpRequest, channel_id: int, kind: str, ref: str) -> HttpResponse:
        channel = self._channel(request, channel_id)
        if kind not in MappingKind.values:
            raise Http404("no such kind of mapping")
        what = MappingKind(kind)
        form = mapping_form(channel, what, request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            target = form.cleaned_data["target"]
            try:
                with http.quick_calls():  # Someone is waiting for the page: one attempt, no long waits.
                    if what is MappingKind.LOCATION:
                        replayed = location_map(channel=channel, location_ref=ref, warehouse=target)
                    else:
                        replayed = inventory_item_map(channel=channel, inventory_item_ref=ref, sku=target)
            except (http.PlatformError, ConsoleOnly) as exc:
                self.message_user(request, f"Not mapped: {http.plain_text(str(exc), 200)}", messages.ERROR)
            else:
                audit(request, CHANGE, f"mapped {what.label.lower()} {ref} to {target}", obj=channel)
                self.message_user(
                    request, replayed_message(f"{what.label.lower()} {ref} to {target}", replayed)
                )
                return redirect("admin:channels_app_channel_needs_mapping")
        title = f"Map {what.label.lower()} {ref} of {channel.name}"
        return self._render(request, "map.html", title, channel=channel, form=form, kind=what, ref=ref)

    def variant_picker_view(self, request: HttpRequest, channel_id: int) -> HttpResponse:
        channel = self._channel(request, channel_id)
        skus = SKU.objects.filter(organization_id=channel.organization_id).order_by("code")
        chosen_sku = request.POST.get("sku") or request.GET.get("sku") or ""
        sku = skus.filter(pk=chosen_sku).first() if chosen_sku.isdigit() else None
        search = request.GET.get("q", "").strip()[:100]
        variants: list[RemoteVariant] = []
        try:
            with http.quick_calls():
                variants = client_for(channel).fetch_variants(search)
        except (http.PlatformError, ConsoleOnly) as exc:
            self.message_user(
                request, f"Could not list variants: {http.plain_text(str(exc), 200)}", messages.ERROR
            )
        if request.method == "POST" and sku is not None:
            chosen = next((v for v in variants if v.variant_id == request.POST.get("variant")), None)
            if chosen is None:
                self.message_user(
                    request, "That variant is not in the channel's list: search again.", messages.ERROR
                )
            else:
                replayed = variant_pick(channel=channel, sku=sku, variant=chosen)
                audit(request, CHANGE, f"mapped SKU {sku.code} to variant {chosen.variant_id}", obj=channel)
                what = f"SKU {sku.code} to {chosen.title} (variant {chosen.variant_id})"
                self.message_user(request, replayed_message(what, replayed))
                return redirect(f"{request.path}?{urlencode({'sku': str(sku.pk), 'q': search})}")
        mapped: dict[str, str] = dict(channel.variants.values_list("external_variant_id", "sku__code"))
        rows = [(variant, mapped.get(variant.variant_id, "")) for variant in variants]
        title = f"Map SKUs to variants of {channel.name}"
        return self._render(
            request,
            "variant_picker.html",
            title,
            channel=channel,
            skus=skus,
            sku=sku,
            search=search,
            rows=rows,
        )

    @admin.display(description="Mapping")
    def mapping_links(self, channel: Channel) -> str:
        if channel.pk is None:
            return "-"
        return format_html(
            "<a href='{}'>Map SKUs to this channel's variants</a> · <a href='{}'>What needs mapping</a>",
            reverse("admin:channels_app_channel_variants", args=[channel.pk]),
            reverse("admin:channels_app_channel_needs_mapping"),
        )
