from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from nurture import api as nurture_api

admin.site.site_header = "Leadflow"
admin.site.site_title = "Leadflow"
admin.site.index_title = "Scoring, nurture and routing"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("scoring.urls")),
    path("api/v1/enrollments", nurture_api.EnrollmentsView.as_view(), name="enrollments"),
    path("v1/", include("scoring.segment")),
    path("t/", include("scoring.tracking")),
    path("n/", include("nurture.urls")),
    path("sales/", include("routing.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]
