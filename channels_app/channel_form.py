"""The Channel admin's form: secrets written, never shown back, and only the fields the channel's
platform uses, named in its own words (a Shopify app secret, a Shopee partner key, a Twilio auth
token), so a merchant connecting one store never wonders what a partner id is."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils import timezone

from channels_app.models import Channel, Platform

SECRET_HELP = "Write-only: leave blank to keep the stored value."
CREDENTIAL_FIELDS = ("access_token", "refresh_token", "consumer_key", "consumer_secret")

# What every channel has; on a new channel the platform is chosen first, from these alone.
FIRST_FIELDS = ("organization", "name", "platform")
COMMON_FIELDS = (
    *FIRST_FIELDS,
    "is_active",
    "webhook_url",
    "connection",
    "secrets",
    "created_at",
    "updated_at",
)
# Platforms with stores: locations to map to warehouses, and webhooks the hub registers itself.
STORE_PLATFORMS = (Platform.SHOPIFY, Platform.WOOCOMMERCE, Platform.SHOPEE)
_SECRETS = ("webhook_secret", "previous_webhook_secret")
_STORE = ("allow_backorders", "api_rate_limit", "recent_runs", "mapping_links")
# Per platform, the fields its webhooks, client and stock rules read (channels_app.platforms.*).
PLATFORM_FIELDS: dict[str, tuple[str, ...]] = {
    Platform.SHOPIFY: (
        "shop_identifier",
        "api_base_url",
        *_SECRETS,
        "access_token",
        "push_catalog",
        *_STORE,
        "api_versions",
    ),
    Platform.WOOCOMMERCE: (
        "shop_identifier",
        "api_base_url",
        *_SECRETS,
        "consumer_key",
        "consumer_secret",
        "push_catalog",
        *_STORE,
    ),
    # Shopee listings are made in Seller Centre (its client refuses push_listing): no catalog push.
    Platform.SHOPEE: (
        "shop_identifier",
        "partner_id",
        "api_base_url",
        *_SECRETS,
        "access_token",
        "refresh_token",
        *_STORE,
    ),
    # Carriers and the SMS provider only send webhooks: an account and the secret that signs them.
    Platform.EASYPOST: ("shop_identifier", *_SECRETS),
    Platform.AFTERSHIP: ("shop_identifier", *_SECRETS),
    Platform.TWILIO: ("shop_identifier", *_SECRETS),
}
# The platform's own names for the fields every platform shares.
LABELS: dict[str, dict[str, str]] = {
    Platform.SHOPIFY: {"shop_identifier": "Shop domain (….myshopify.com)", "webhook_secret": "App secret"},
    Platform.WOOCOMMERCE: {"shop_identifier": "Site URL", "webhook_secret": "Webhook secret"},
    Platform.SHOPEE: {"shop_identifier": "Shop id", "webhook_secret": "Partner key"},
    Platform.EASYPOST: {"shop_identifier": "Account name", "webhook_secret": "Webhook secret"},
    Platform.AFTERSHIP: {"shop_identifier": "Account name", "webhook_secret": "Webhook secret"},
    Platform.TWILIO: {"shop_identifier": "Account SID", "webhook_secret": "Auth token"},
}


def platform_of(request: HttpRequest, channel: Channel | None) -> str:
    """The platform whose fields the form shows: the channel's, else the one being chosen."""
    if channel is not None and channel.platform:
        return channel.platform
    chosen = request.POST.get("platform") or request.GET.get("platform") or ""
    return chosen if chosen in PLATFORM_FIELDS else ""


def fields_for(platform: str, fields: list[str]) -> list[str]:
    """Of the admin's fields, those the platform uses (only the first choices, with none yet)."""
    wanted = (*COMMON_FIELDS, *PLATFORM_FIELDS[platform]) if platform else FIRST_FIELDS
    return [field for field in fields if field in wanted]


class ChannelForm(forms.ModelForm):
    """Secrets are written, never shown back: a blank field keeps what is stored."""

    webhook_secret = forms.CharField(required=False, widget=forms.PasswordInput, help_text=SECRET_HELP)
    previous_webhook_secret = forms.CharField(
        required=False, widget=forms.PasswordInput, help_text=SECRET_HELP
    )
    access_token = forms.CharField(required=False, widget=forms.PasswordInput, help_text=SECRET_HELP)
    refresh_token = forms.CharField(required=False, widget=forms.PasswordInput, help_text=SECRET_HELP)
    consumer_key = forms.CharField(required=False, widget=forms.PasswordInput, help_text=SECRET_HELP)
    consumer_secret = forms.CharField(required=False, widget=forms.PasswordInput, help_text=SECRET_HELP)

    class Meta:
        model = Channel
        fields = (
            "organization",
            "name",
            "platform",
            "shop_identifier",
            "partner_id",
            "api_base_url",
            "webhook_secret",
            "previous_webhook_secret",
            "allow_backorders",
            "push_catalog",
            "api_rate_limit",
            "is_active",
        )

    class Media:
        js = ("channels_app/channel_platform.js",)

    def clean_webhook_secret(self) -> str:
        return self.cleaned_data["webhook_secret"] or (
            self.instance.webhook_secret if self.instance.pk else ""
        )

    def clean_previous_webhook_secret(self) -> str:
        stored = self.instance.previous_webhook_secret if self.instance.pk else ""
        return self.cleaned_data["previous_webhook_secret"] or stored

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        self.stored_secrets = (
            instance.webhook_secret,
            instance.previous_webhook_secret,
            instance.credentials,
        )
        platform = instance.platform or self.data.get("platform") or self.initial.get("platform") or ""
        for name, label in LABELS.get(platform, {}).items():
            if name in self.fields:
                self.fields[name].label = label

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        given = {name: self.cleaned_data[name] for name in CREDENTIAL_FIELDS if self.cleaned_data.get(name)}
        credentials = {**channel.credentials, **given}
        if (channel.webhook_secret, channel.previous_webhook_secret, credentials) != self.stored_secrets:
            channel.secrets_changed_at = timezone.now()
        channel.credentials = credentials
        if commit:
            channel.save()
        return channel
