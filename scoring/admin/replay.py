"""Replays in the admin: start one from a version ("Add replay", ``?version=<id>`` chooses
it), watch its progress, cancel it, and read the comparison with the live model."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from scoring import localized, services, typed
from scoring import replay as pure_replay
from scoring.models import ModelVersion, ReplayRun

# Leads that would move, shown a page at a time on the run's page.
SAMPLE_PAGE = 50


class ReplayForm(forms.ModelForm[ReplayRun]):
    class Meta:
        model = ReplayRun
        fields = ["version", "days"]
        labels = {"days": _("Days to replay")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        version = self.fields["version"]
        assert isinstance(version, forms.ModelChoiceField)
        version.queryset = ModelVersion.objects.order_by("status", "-created_at", "-id")
        version.help_text = _("The version to compare with the live model, usually a draft.")

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        version, days = cleaned.get("version"), cleaned.get("days")
        if version is not None and days is not None:
            for name, message in services.replay_check(version=version, days=days).items():
                self.add_error(name, message)
        return cleaned


@admin.register(ReplayRun)
class ReplayRunAdmin(admin.ModelAdmin[ReplayRun]):
    """A replay scores the last N days under a version and under the live model, in the
    background, and writes no score: it shows what publishing the version would change."""

    form = ReplayForm
    list_display = ["__str__", "status", "progress_bar", "created_by", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["version", "created_by"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # ?version=<id> chooses the version; anything else in it is ignored (the form says what is missing).
        initial = super().get_changeform_initial_data(request)
        chosen = request.GET.get("version", "")
        if typed.id_from_text(chosen) is None:
            initial.pop("version", None)
        return initial

    @admin.display(description=_("Progress"))
    def progress_bar(self, obj: ReplayRun) -> SafeString:
        return format_html(
            '<progress max="100" value="{}"></progress> {}', obj.progress, localized.percent(obj.progress, 0)
        )

    def save_model(self, request: HttpRequest, obj: ReplayRun, form: forms.ModelForm[ReplayRun], change: bool) -> None:
        if change:
            return  # a replay is not edited
        user = request.user if request.user.is_authenticated else None
        run = services.replay_start(version=obj.version, days=obj.days, user=user)
        obj.pk = run.pk
        self.message_user(request, gettext("Replay queued: {run}.").format(run=run), messages.SUCCESS)

    def response_add(self, request: HttpRequest, obj: ReplayRun, post_url_continue: str | None = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:scoring_replayrun_change", args=[obj.pk]))

    def has_delete_permission(self, request: HttpRequest, obj: ReplayRun | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:run_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="scoring_replayrun_progress",
            ),
            path(
                "<int:run_id>/cancel/",
                self.admin_site.admin_view(require_POST(self.cancel_view)),
                name="scoring_replayrun_cancel",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The run's page: progress while it runs, the comparison once done."""
        run_id = typed.id_from_text(object_id)
        if run_id is None:
            return super().change_view(request, object_id, form_url, extra_context)  # the admin's own "not found"
        run = get_object_or_404(ReplayRun.objects.select_related("version", "created_by"), pk=run_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        result = _no_group_translated(run.result or {})
        sample = Paginator(result.get("sample", []), SAMPLE_PAGE).get_page(request.GET.get("page"))
        roc = None
        if result:
            sep = result["separation"]
            roc = {
                "live": sep["live"]["points"],
                "draft": sep["draft"]["points"],
                # The chart's words, in the reader's language: the script carries none of its own.
                "words": {
                    "live": gettext("Live model"),
                    "draft": gettext("Replayed"),
                    "coin": gettext("Coin toss"),
                    "x": gettext("Lost leads above the threshold (false positive rate)"),
                    "y": gettext("Won leads above the threshold (true positive rate)"),
                },
            }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "run": run,
            "result": result,
            "sample": sample,
            "roc": roc,
            "scorecard_sample": SAMPLE_PAGE,
            "scorecard_slice": f":{SAMPLE_PAGE}",
            "can_cancel": not run.finished and self.has_change_permission(request, run),
            "title": str(run),
        }
        return render(request, "admin/scoring/replayrun/run.html", context)

    def progress_view(self, request: HttpRequest, run_id: int) -> JsonResponse:
        run = get_object_or_404(ReplayRun, pk=run_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return JsonResponse({"status": run.status, "label": run.get_status_display(), "progress": run.progress,
                             "finished": run.finished})  # fmt: skip

    def cancel_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        run = get_object_or_404(ReplayRun, pk=run_id)
        if not self.has_change_permission(request, run):
            raise PermissionDenied
        run = services.replay_cancel(run_id=run.pk)
        self.message_user(
            request,
            gettext("{run}: cancel asked; it stops after the leads it is scoring.").format(run=run),
            messages.INFO,
        )
        return HttpResponseRedirect(reverse("admin:scoring_replayrun_change", args=[run.pk]))


def _no_group_translated(result: dict[str, Any]) -> dict[str, Any]:
    """The comparison with "No group" in the reader's language: a run keeps the English
    name in the group columns of its tables (and of each scorecard's)."""
    shown = gettext("No group")
    columns = {"name", "from_name", "to_name", "from", "to"}  # sample rows name their groups "from" and "to"

    def named(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shown if k in columns and v == pure_replay.NO_GROUP_NAME else named(v) for k, v in value.items()}
        if isinstance(value, list):
            return [named(v) for v in value]
        return value

    return {
        k: named(v) if k in ("groups", "moves", "sample", "conversion", "scorecards") else v for k, v in result.items()
    }
