from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path

from nurture import api as nurture_api

admin.site.site_header = "Leadflow"
admin.site.site_title = "Leadflow"
admin.site.index_title = "Scoring, nurture and routing"


def home(request: HttpRequest) -> HttpResponse:
    """Sales reps to their queue; everyone else (marketers, not signed in) to the admin."""
    if request.user.has_perm("routing.work_queue") and not request.user.is_staff:
        return redirect("sales:queue")
    return redirect("admin:index")


urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("scoring.urls")),
    path("api/v1/enrollments", nurture_api.EnrollmentsView.as_view(), name="enrollments"),
    path("v1/", include("scoring.segment")),
    path("t/", include("scoring.tracking")),
    path("n/", include("nurture.urls")),
    path("sales/", include("routing.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]
