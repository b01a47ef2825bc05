"""How long runs show in the admin, for every app's run admins: a progress bar, and list and
object pages that reload while a run is under way."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from channels_app.access import OrganizationScopedAdmin
from channels_app.models import SyncStatus


def progress_html(percent: int, caption: str) -> str:
    return format_html(
        "<progress max='100' value='{}' title='{}%'></progress> {}% ({})", percent, percent, percent, caption
    )


class RefreshWhileRunning(OrganizationScopedAdmin):
    """A run's list and page reload every 3 s while a run the user can see is QUEUED or RUNNING."""

    change_list_template = "admin/auto_refresh/change_list.html"
    change_form_template = "admin/auto_refresh/change_form.html"
    OPEN: tuple[str, ...] = (SyncStatus.QUEUED, SyncStatus.RUNNING)

    def running(self, queryset: QuerySet[Any]) -> bool:
        """Whether any of these is still under way (the page reloads)."""
        return queryset.filter(status__in=self.OPEN).exists()

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        running = self.running(self.get_queryset(request))
        return super().changelist_view(request, {**(extra_context or {}), "auto_refresh": running})

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        running = run is not None and self.running(self.get_queryset(request).filter(pk=run.pk))
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "auto_refresh": running}
        )
