"""The overview page and its CSV downloads. Sign-in and ``reports.view_reports``
(Marketing, sales managers) or no entry."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from reports import overview as sections

View = Callable[..., HttpResponse]


def reader_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.has_perm("reports.view_reports"):
            raise PermissionDenied("Only Marketing and sales managers read the reports.")
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@reader_required
def overview(request: HttpRequest) -> HttpResponse:
    """The page, or with ``?format=csv&section=KEY`` one section's table as CSV."""
    form = request.GET.get("format", "html")
    if form == "csv":
        return _csv(request)
    if form != "html":
        return HttpResponseBadRequest(
            f"format: '{form}' is not a format here (html or csv).", content_type="text/plain"
        )
    now = timezone.now()
    found = sections.overview(now=now)
    return render(
        request,
        "reports/overview.html",
        {
            "sections": {s.key: s for s in found},
            "charts": {s.key: s.chart for s in found if s.chart},
            "now": now,
        },
    )


def _csv(request: HttpRequest) -> HttpResponse:
    key = request.GET.get("section", "")
    found = sections.section(key) if key else None
    if found is None:
        return HttpResponseBadRequest(
            f"section: '{key}' is not a section of the overview ({', '.join(sections.SECTION_KEYS)}).",
            content_type="text/plain",
        )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leadflow-overview-{found.key}-{timezone.localdate()}.csv"'
    writer = csv.writer(response)
    writer.writerow(found.columns)
    writer.writerows([[_cell(value) for value in row] for row in found.rows])
    return response


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run: text people typed (a lead's name) that starts
    like a formula gets a leading apostrophe. Numbers and score ranges ("-5 to -1") stay."""
    if value[:1] in ("=", "+", "@", "\t", "\r") or (value[:1] == "-" and not value[1:2].isdigit()):
        return "'" + value
    return value
