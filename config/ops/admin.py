"""django-rq's dashboard, registries and job pages, with the hub's own pages in front, all gated
by the ops permission (config.ops.access)."""

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django_rq import stats_views
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from config.ops.access import is_ops, ops_only, ops_or_api_token
from config.ops.views import dashboard_view, failed_jobs_view


class OpsQueueAdmin(QueueAdmin):
    """django-rq's dashboard, registries and job pages, gated by the ops permission."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_ops(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_ops(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_ops(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return ops_only(super().changelist_view)(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            gated = ops_only(view)

            @functools.wraps(view)
            def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                request.current_app = self.admin_site.name  # type: ignore[attr-defined]
                return self.admin_site.admin_view(gated)(request, *args, **kwargs)

            return wrapper

        # The stats JSON and Prometheus views: ops, or django-rq's API token (for a scraper).
        api_urls = get_api_urlpatterns(name_prefix="django_rq_")
        for pattern in api_urls:
            pattern.callback = ops_or_api_token(pattern.callback)
        admin_urls = [
            url
            for url in get_admin_urlpatterns(name_prefix="django_rq_", view_wrapper=wrap)
            # rq-scheduler's page: the hub schedules with rq's own scheduler, and without the
            # rq-scheduler package this page only raises.
            if url.name != "django_rq_scheduler_jobs"
        ]
        # The hub's dashboard is the landing page (before django-rq's own, which moves to stats/).
        hub_urls = [
            path("", wrap(dashboard_view), name="django_rq_hub_dashboard"),
            path("stats/", wrap(stats_views.stats), name="django_rq_stats"),
            path("failed/", wrap(failed_jobs_view), name="django_rq_failed_all"),
        ]
        # Of the model admin's own pages only the list: the Dashboard model has no table, and its
        # add, change, delete and history pages would query one.
        model_urls = [
            u for u in super(QueueAdmin, self).get_urls() if u.name == "django_rq_dashboard_changelist"
        ]
        return api_urls + hub_urls + admin_urls + model_urls


admin.site.unregister(Dashboard)
admin.site.register(Dashboard, OpsQueueAdmin)
