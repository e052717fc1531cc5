from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path

from intake import enrollments

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
    path("api/v1/", include("intake.urls")),
    path("api/v1/enrollments", enrollments.EnrollmentsView.as_view(), name="enrollments"),
    path("v1/", include("intake.segment")),
    path("t/", include("intake.tracking")),
    path("n/", include("nurture.urls")),
    path("sales/", include("routing.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]
