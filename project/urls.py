from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path

from intake import enrollments, sdk_settings, segment
from people import languages

admin.site.site_header = "Leadflow"
admin.site.site_title = "Leadflow"
admin.site.index_title = "Scoring, nurture and routing"


def home(request: HttpRequest) -> HttpResponse:
    """The first page after signing in: those who read the reports (Marketing, sales
    managers) to the overview, sales reps to their queue, everyone else (not signed in
    included) to the admin."""
    if request.user.has_perm("reports.view_reports"):
        return redirect("reports:overview")
    if request.user.has_perm("routing.work_queue") and not request.user.is_staff:
        return redirect("sales:queue")
    return redirect("admin:index")


urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("intake.urls")),
    path("api/v1/enrollments", enrollments.EnrollmentsView.as_view(), name="enrollments"),
    path("v1/projects/<str:write_key>/settings", sdk_settings.segment_settings, name="segment-settings"),
    path("v1/", include("intake.segment")),
    path("beacon/v1/batch", segment.beacon_batch, name="segment-beacon"),
    path("sourceConfig/", sdk_settings.rudderstack_source_config, name="rudderstack-source-config"),
    path("t/", include("intake.tracking")),
    path("n/", include("nurture.urls")),
    path("sales/", include("routing.urls")),
    path("reports/", include("reports.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("language", languages.language_set, name="language"),
]
