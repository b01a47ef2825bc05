"""The hub's URLs plus the ingest benchmark's baseline views."""

from django.urls import path

from bench import views
from config.urls import urlpatterns as hub_urlpatterns

urlpatterns = [
    *hub_urlpatterns,
    path("bench/noop/", views.noop, name="bench-noop"),
    path("bench/insert/", views.insert, name="bench-insert"),
]
