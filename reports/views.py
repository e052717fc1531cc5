"""The overview, the closed-loop report pages and their CSV export: read-only (GET), for
users with ``reports.view_reports`` (Marketing, sales managers); anonymous users go to
the login page, others get 403. Each page and its CSV show the same table."""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from django.contrib.auth.decorators import login_required, permission_required
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from reports import overview as sections
from reports import replica
from reports.filters import ATTRIBUTIONS, NO_GROUP, Choices, filters_parse
from reports.tables import BY_SLUG, REPORTS, Report
from scoring.services import predictive as predictive_scoring

View = Callable[..., HttpResponse]


def chart_words() -> dict[str, str]:
    """The words the charts' scripts write (legends, axis titles), in the reader's
    language: the scripts take them from the page rather than carry English of their own."""
    return {
        "leads": gettext("Leads"),
        "reached": gettext("Leads that reached it"),
        "within_sla": gettext("Waiting, within the SLA"),
        "past_sla": gettext("Waiting past the SLA"),
        "mqls_delivered": gettext("MQLs delivered"),
        "target": gettext("Target"),
        "effect_share": gettext("Share of the effect (%)"),
        "perfect": gettext("Perfect"),
        "probability_given": gettext("Probability given"),
        "share_converted": gettext("Share that converted"),
    }


def report_settings(view: View) -> View:
    """Run the view's queries in one transaction (on the database reports read: the
    replica when one is configured) with PostgreSQL's JIT compiler off.

    The reports' statements are large aggregates PostgreSQL's planner prices high enough to
    compile to machine code, which at a million leads costs more (hundreds of milliseconds
    per statement) than the query saves; the numbers are the same either way."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        reads = connections[replica.alias()]
        if reads.vendor != "postgresql":
            return view(request, *args, **kwargs)
        with transaction.atomic(using=reads.alias):
            with reads.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
            return view(request, *args, **kwargs)

    return wrapped


def readers_only(view: View) -> View:
    """Anonymous users go to the login page; signed-in users without the permission get 403.
    The page itself reads from the reports' replica when one is configured (the sign-in
    and permission checks before it read the primary, as every other page does)."""
    return login_required(
        permission_required("reports.view_reports", raise_exception=True)(
            require_GET(replica.reads_replica(report_settings(view)))
        )
    )


# A number, a share or a score range as the tables print them: "+15", "-3", "33.3%", "-5 to -1".
NUMBER = re.compile(r"[+-]?[\d.,]+%?( to [+-]?[\d.,]+)?")


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run: text people typed (a lead's name, a rejection
    reason) that starts like a formula gets a leading apostrophe. Numbers stay as shown."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv(filename: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{timezone.localdate():%Y-%m-%d}.csv"'
    writer = csv.writer(response)
    # Headers too: a score group's name heads a column, and a model file from elsewhere may name it.
    writer.writerow([_cell(header) for header in headers])
    writer.writerows([[_cell(value) for value in row] for row in rows])
    return response


@readers_only
def overview(request: HttpRequest) -> HttpResponse:
    """The page, or with ``?format=csv&section=KEY`` one section's table as CSV; with
    ``scorecard=KEY`` the score sections are that scorecard's."""
    form = request.GET.get("format", "html")
    if form not in ("html", "csv"):
        return HttpResponseBadRequest(
            f"format: '{form}' is not a format here (html or csv).", content_type="text/plain"
        )
    choices = Choices.scorecards_load()
    chosen, errors = filters_parse(request.GET, applies=("scorecard",), choices=choices)
    scorecard = request.GET.get("scorecard", "").strip()
    if form == "csv":
        if errors:
            text = "".join(f"{name}: {message}\n" for name, message in errors.items())
            return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
        key = request.GET.get("section", "")
        found = sections.section(key, scorecard_id=chosen.scorecard_id, groups=chosen.groups) if key else None
        if found is None:
            return HttpResponseBadRequest(
                f"section: '{key}' is not a section of the overview ({', '.join(sections.SECTION_KEYS)}).",
                content_type="text/plain",
            )
        name = f"leadflow-overview-{found.key}" + (f"-{scorecard}" if chosen.scorecard_id is not None else "")
        return _csv(name, found.columns, found.rows)
    now = timezone.now()
    found_all = [] if errors else sections.overview(now=now, scorecard_id=chosen.scorecard_id, groups=chosen.groups)
    context = {
        "sections": {s.key: s for s in found_all},
        "charts": {s.key: s.chart for s in found_all if s.chart},
        "chart_words": chart_words(),
        "now": now,
        "choices": choices,
        "given": {"scorecard": scorecard},
        "errors": errors,
        "no_leads": sections.no_leads(found_all),
        # The CSV links keep the scorecard chosen.
        "csv_query": f"&scorecard={quote(scorecard)}" if chosen.scorecard_id is not None else "",
    }
    return render(request, "reports/overview.html", context, status=400 if errors else 200)


@readers_only
def index(request: HttpRequest) -> HttpResponse:
    reports = [(report, reverse(f"reports:{report.slug}")) for report in REPORTS]
    return render(request, "reports/all.html", {"reports": reports})


def _query(request: HttpRequest, report: Report) -> str:
    """The report's filters of the request, as a query string (for the CSV link)."""
    kept = request.GET.copy()
    for name in list(kept):
        if name not in report.filters:
            del kept[name]
    return kept.urlencode()


@readers_only
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    report = BY_SLUG[slug]
    choices = Choices.load()
    filters, errors = filters_parse(request.GET, applies=report.filters, choices=choices)
    shown = None if errors else report.show(filters)
    query = _query(request, report)
    context: dict[str, Any] = {
        "report": report,
        "shown": shown,
        "errors": errors,
        "given": {name: request.GET.get(name, "") for name in report.filters},
        "applies": set(report.filters),
        "choices": choices,
        "groups": filters.groups,  # those of the scorecard filtered on
        "no_group": NO_GROUP,
        "attributions": ATTRIBUTIONS,
        "csv_url": reverse(f"reports:{slug}-csv") + (f"?{query}" if query else ""),
        "page_url": reverse(f"reports:{slug}"),
    }
    status = 400 if errors else 200
    return render(request, "reports/report.html", context, status=status)


@readers_only
def report_csv(request: HttpRequest, slug: str) -> HttpResponse:
    report = BY_SLUG[slug]
    filters, errors = filters_parse(request.GET, applies=report.filters, choices=Choices.load())
    if errors:
        text = "".join(f"{name}: {message}\n" for name, message in errors.items())
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    table = report.show(filters).table
    return _csv(slug, table.headers, table.rows)


@readers_only
def predictive(request: HttpRequest) -> HttpResponse:
    """Predictive scoring: how good the active model is, which signals matter, how the
    leads' probabilities spread, and the points it suggests for each scoring rule."""
    found = predictive_scoring.insights()
    version = found["version"]
    charts: dict[str, Any] = {}
    if version is not None:
        metrics = version.metrics
        importance = metrics.get("importance", [])[:15]
        charts = {
            "importance": {
                "labels": [i["column"] for i in importance],
                "values": [round(100 * i["share"], 1) for i in importance],
            },
            "calibration": metrics.get("calibration", {"predicted": [], "observed": []}),
            "distribution": found["distribution"],
        }
    return render(request, "reports/predictive.html", {**found, "charts": charts, "chart_words": chart_words()})
