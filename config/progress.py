"""How long runs show in the admin, for every app's run admins: a progress bar, and list and object
pages whose progress cells update in place while a run is under way.

The page is never reloaded: a reload wiped the search text and the ticked rows, and raced any
action the user was about to submit. Instead `hub/live_progress.js` asks the admin's `live/` URL
for the cells of the rows on the page, and only while one of them is running.
"""

from typing import Any

from django.contrib.admin.utils import display_for_field, display_for_value, lookup_field
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import conditional_escape, format_html

from channels_app.access import OrganizationScopedAdmin
from channels_app.models import SyncStatus

# How many rows one request may ask about: a changelist page shows at most 100 by default.
MAX_LIVE_ROWS = 200


def progress_html(percent: int, caption: str) -> str:
    return format_html(
        "<progress max='100' value='{}' title='{}%'></progress> {}% ({})", percent, percent, percent, caption
    )


class RefreshWhileRunning(OrganizationScopedAdmin):
    """A run's list and page update their cells every 3 s while a run shown there is QUEUED or
    RUNNING, through the JSON of `live_view`; nothing polls once every run shown has ended."""

    change_list_template = "admin/live_progress/change_list.html"
    change_form_template = "admin/live_progress/change_form.html"
    OPEN: tuple[str, ...] = (SyncStatus.QUEUED, SyncStatus.RUNNING)

    def running(self, queryset: QuerySet[Any]) -> bool:
        """Whether any of these is still under way (its page keeps asking for its cells)."""
        return queryset.filter(status__in=self.OPEN).exists()

    def live_fields(self, request: HttpRequest) -> list[str]:
        """The list's columns that change as a run goes: all but the checkbox and the links,
        which keep the page's own markup (a selection, a link to the object)."""
        links = self.get_list_display_links(request, self.get_list_display(request)) or ()
        names = [name for name in self.get_list_display(request) if isinstance(name, str)]
        return [name for name in names if name != "action_checkbox" and name not in links]

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        live = path("live/", self.admin_site.admin_view(self.live_view), name="{}_{}_live".format(*info))
        return [live, *super().get_urls()]

    def live_view(self, request: HttpRequest) -> JsonResponse:
        """The live cells of the rows asked for (`?id=1&id=2`), of those this user may see, and
        whether any of them is still running: {"running": bool, "rows": {id: {field: html}}}."""
        if not self.has_view_or_change_permission(request):
            needed = f"viewing {self.opts.verbose_name_plural} needs its permission"
            return JsonResponse({"error": needed}, status=403)
        ids = [value for value in request.GET.getlist("id") if value.isdigit()][:MAX_LIVE_ROWS]
        rows = self.get_queryset(request).filter(pk__in=ids)
        fields = self.live_fields(request)
        cells = {str(obj.pk): {name: self.live_cell(obj, name) for name in fields} for obj in rows}
        return JsonResponse({"running": self.running(rows), "rows": cells})

    def live_cell(self, obj: Model, name: str) -> str:
        """One cell as the changelist renders it (choices by their label, empty as the admin's dash)."""
        empty = self.get_empty_value_display()
        field, attr, value = lookup_field(name, obj, self)
        if field is None:
            shown = display_for_value(value, empty, getattr(attr, "boolean", False))
        else:
            shown = display_for_field(value, field, empty)
        return str(conditional_escape(shown))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        # Only the rows on this page count: a run on another page, or filtered out, is not shown.
        if isinstance(response, TemplateResponse) and response.context_data and "cl" in response.context_data:
            shown = [obj.pk for obj in response.context_data["cl"].result_list]
            running = self.running(self.get_queryset(request).filter(pk__in=shown))
            response.context_data.update(self._live_context(running))
        return response

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
            request, object_id, form_url, {**(extra_context or {}), **self._live_context(running)}
        )

    def _live_context(self, running: bool) -> dict[str, Any]:
        info = self.opts.app_label, self.opts.model_name
        return {"live_running": running, "live_url": reverse("admin:{}_{}_live".format(*info))}
