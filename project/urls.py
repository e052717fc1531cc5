import re

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.contrib.staticfiles import views as staticfiles
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _

from intake import enrollments, sdk_settings, segment
from intake.api import api_not_found
from people import languages
from project.auth import PasswordResetLimited

admin.site.site_header = "Leadflow"
admin.site.site_title = "Leadflow"
admin.site.index_title = _("Scoring, nurture and routing")


def home(request: HttpRequest) -> HttpResponse:
    """The first page after signing in: those who read the reports (Marketing, sales
    managers) to the overview, sales reps to their queue, everyone else to the admin.
    Not signed in: to the sign-in page, and back here after it."""
    if not request.user.is_authenticated:
        # The site's sign-in (LOGIN_URL), not the admin's: that one takes staff only, and reps are not.
        return redirect_to_login(request.get_full_path())
    if request.user.has_perm("reports.view_reports"):
        return redirect("reports:overview")
    if request.user.has_perm("routing.work_queue") and not request.user.is_staff:
        return redirect("sales:queue")
    return redirect("admin:index")


def static_file(request: HttpRequest, path: str) -> HttpResponse | StreamingHttpResponse:
    """A static file, served by Django with DEBUG on (the development server bin/run starts,
    told not to serve them itself); with DEBUG off, a 404: the web server in front serves
    STATIC_ROOT. A path out of the static folders ("../" in any spelling) is a file not
    found, as it is to a web server: Django's own handler let its SuspiciousFileOperation
    through, a server error."""
    try:
        return staticfiles.serve(request, path)
    except SuspiciousFileOperation:
        raise Http404(path) from None


# A database busy for a moment outside a view (a middleware's read) answers 503 too.
handler500 = "intake.errors.server_error"

urlpatterns = [
    path("", home, name="home"),
    re_path(rf"^{re.escape(settings.STATIC_URL.lstrip('/'))}(?P<path>.*)$", static_file, name="static-file"),
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
    # Before Django's own, which would answer the same path without the rate limits.
    path("accounts/password_reset/", PasswordResetLimited.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("language", languages.language_set, name="language"),
    # Last: any other path under the API is answered as the API answers (JSON, a code).
    re_path(r"^api/v1(/|$)", api_not_found),
]
