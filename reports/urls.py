from django.urls import URLPattern, path

from reports import views
from reports.tables import REPORTS

app_name = "reports"

urlpatterns: list[URLPattern] = [
    path("", views.overview, name="overview"),
    path("all/", views.index, name="all"),
    path("predictive/", views.predictive, name="predictive"),
    # One path per report (not a catch-all "<slug>/"): other pages live under /reports/ too.
    *(path(f"{r.slug}/", views.report_page, {"slug": r.slug}, name=r.slug) for r in REPORTS),
    *(path(f"{r.slug}/csv", views.report_csv, {"slug": r.slug}, name=f"{r.slug}-csv") for r in REPORTS),
]
