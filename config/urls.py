from django.contrib import admin
from django.contrib.contenttypes import views as contenttype_views
from django.contrib.contenttypes.models import ContentType
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView

from config import health, pages


def view_on_site(request: HttpRequest, content_type_id: int, object_id: str) -> HttpResponse:
    """The admin's "view on site" redirect, but "not found" for a model without a table
    (django-rq's Dashboard), whose rows Django's own view would query and answer 500."""
    content_type = ContentType.objects.filter(pk=content_type_id).first()
    model = content_type.model_class() if content_type is not None else None
    if model is None or not model._meta.managed:
        raise Http404("no such object")
    return contenttype_views.shortcut(request, content_type_id, object_id)


# Denied pages in the admin's own style (a bare "403 Forbidden" left merchants lost); JSON to JSON clients.
handler403 = "config.pages.permission_denied"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index")),
    # Before the admin's own pattern for this path, which it replaces.
    path("admin/r/<int:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site)),
    path("admin/", admin.site.urls),
    path("webhooks/", include("channels_app.urls")),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("queue/health", health.queue_health, name="queue-health"),
    path("queue/metrics", health.queue_metrics, name="queue-metrics"),
]
