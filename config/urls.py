from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import health

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index")),
    path("admin/", admin.site.urls),
    path("webhooks/", include("channels_app.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("queue/health", health.queue_health, name="queue-health"),
    path("queue/metrics", health.queue_metrics, name="queue-metrics"),
]
