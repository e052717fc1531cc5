"""The page a refused login gets (django-axes calls it: AXES_LOCKOUT_CALLABLE), and the
"forgotten your password" form with rate limits."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.views import PasswordResetView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, ngettext

from intake.tracking import client_network, rate_limited
from intake.tracking.limits import too_many

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


class PasswordResetLimited(PasswordResetView):
    """Django's "forgotten your password" form (a new rep's invitation ends on its pages),
    which anyone may post and each post of which emails the address: counted per address
    and per email (``LEADFLOW_RATE_LIMITS["password_reset"]``), so nobody can flood a
    colleague's inbox or the mail server from it. Over a limit the form says when to try
    again, on its email field, with 429; nothing is sent."""

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"].casefold()
        wait = rate_limited(
            self.request, endpoint="password_reset", kind="ip", value=client_network(self.request)
        ) or rate_limited(self.request, endpoint="password_reset", kind="email", value=email)
        if wait is None:
            return super().form_valid(form)
        minutes = math.ceil(wait / 60)
        form.add_error(
            "email",
            ngettext(
                "Too many password resets asked for from here or for this address: try again in {count} minute.",
                "Too many password resets asked for from here or for this address: try again in {count} minutes.",
                minutes,
            ).format(count=minutes),
        )
        return too_many(self.form_invalid(form), wait)
