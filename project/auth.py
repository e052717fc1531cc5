"""The page a refused login gets (django-axes calls it: AXES_LOCKOUT_CALLABLE)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext

TOO_MANY_REQUESTS = 429


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """Say what happened and when to try again, in the look of the login that was refused:
    the admin's, or the sales queue's."""
    context: dict[str, Any] = {
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": round(settings.AXES_COOLOFF_TIME.total_seconds() / 60),
    }
    if request.path.startswith(reverse("admin:index")):
        context.update(admin.site.each_context(request), title=gettext("Too many failed logins"))
        return render(request, "admin/locked_out.html", context, status=TOO_MANY_REQUESTS)
    return render(request, "registration/locked_out.html", context, status=TOO_MANY_REQUESTS)
