"""Who sees what in the admin: merchants see their organizations' data, ops and superusers all.

A merchant is a staff user who is a member of organizations (Organization.members); every model
admin of the hub's data mixes in `OrganizationScopedAdmin` with the path from its model to the
organization, which filters lists, object pages typed by hand (outside the queryset they are "not
found"), admin actions and foreign-key choices.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from channels_app.models import Organization
from config.ops.access import is_ops


def sees_everything(request: HttpRequest) -> bool:
    return request.user.is_superuser or is_ops(request)


def organizations_of(request: HttpRequest) -> QuerySet[Organization]:
    if sees_everything(request):
        return Organization.objects.all()
    if request.user.pk is None:
        return Organization.objects.none()
    return Organization.objects.filter(members__pk=request.user.pk)


# How each model that can be chosen in a form reaches its organization.
_CHOICE_PATHS = {
    "channels_app.organization": "pk",
    "channels_app.channel": "organization",
    "inventory.warehouse": "organization",
    "inventory.sku": "organization",
    "inventory.product": "organization",
    "orders.order": "organization",
    "catalog_sync.supplier": "organization",
}


def scope(request: HttpRequest, queryset: QuerySet[Any], path: str) -> QuerySet[Any]:
    if sees_everything(request):
        return queryset
    return queryset.filter(**{f"{path}__in": organizations_of(request)})


class OrganizationScopedAdmin(admin.ModelAdmin):
    organization_path = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope(request, super().get_queryset(request), self.organization_path)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class WriteOnlySecretsAdmin(admin.ModelAdmin):
    """No secret is rendered to anyone, ops included. Someone who may change the object writes
    secrets in password fields that are never filled back (blank keeps what is stored); someone
    who may only view it does not get those fields at all, since Django would render their values
    as read-only text. Both see which secrets are set and when they last changed (the model's
    `secrets_set()` and `secrets_changed_at`)."""

    secret_fields: tuple[str, ...] = ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = [f for f in super().get_fields(request, obj) if f != "secrets"]
        if not self.has_change_permission(request, obj):
            fields = [f for f in fields if f not in self.secret_fields]
        return [*fields, "secrets"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "secrets")

    @admin.display(description="Secrets")
    def secrets(self, obj: Any) -> str:
        if obj is None or obj.pk is None:
            return "none yet"
        stored = ", ".join(
            f"{label}: {'set' if is_set else 'not set'}" for label, is_set in obj.secrets_set()
        )
        if obj.secrets_changed_at is None:
            return stored
        return f"{stored} (last changed {timezone.localtime(obj.secrets_changed_at):%Y-%m-%d %H:%M})"


class OrganizationScopedInline(admin.TabularInline):
    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def limit_choices(db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
    related: type[Model] = db_field.related_model
    path = _CHOICE_PATHS.get(related._meta.label_lower)
    if path is not None:
        kwargs["queryset"] = scope(request, related._default_manager.all(), path)
