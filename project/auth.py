"""The page a refused login gets (django-axes calls it: AXES_LOCKOUT_CALLABLE), the pause
of an address failing too many logins whatever the names, and the "forgotten your
password" form with rate limits."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.signals import user_login_failed
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
    return _locked_out(
        request,
        {
            "username": (credentials or {}).get("username") or request.POST.get("username", ""),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": round(settings.AXES_COOLOFF_TIME.total_seconds() / 60),
        },
    )


def _locked_out(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    if request.path.startswith(reverse("admin:index")):
        context.update(admin.site.each_context(request), title=gettext("Too many failed logins"))
        return render(request, "admin/locked_out.html", context, status=TOO_MANY_REQUESTS)
    return render(request, "registration/locked_out.html", context, status=TOO_MANY_REQUESTS)


def _login_failed(
    sender: object, credentials: object = None, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """``user_login_failed``: counted against the address's limit, whatever the name tried."""
    if request is not None:
        rate_limited(request, endpoint="login", kind="ip", value=client_network(request))


class LoginSprayGuard:
    """Middleware: a login posted from an address that failed too many logins lately,
    whatever the user names tried (``LEADFLOW_RATE_LIMITS["login"]``), is refused with 429
    and the page saying when to try again; django-axes pauses a name from an address, so
    one address could try a password on every name. A right password does not clear it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        user_login_failed.connect(_login_failed, dispatch_uid="project.auth.login_failed")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path_info in {reverse("admin:login"), reverse("login")}:
            wait = rate_limited(request, endpoint="login", kind="ip", value=client_network(request), count=False)
            if wait is not None:
                return too_many(_locked_out(request, {"address_wait_minutes": math.ceil(wait / 60)}), wait)
        return self.get_response(request)


class PasswordResetForEveryone(PasswordResetForm):
    """Django's form, emailing also an active person who has no password yet: a rep
    invited who never set one, whose invitation's link is too old. Django leaves those out
    for sites where some people sign in another way; here everyone signs in with a
    password, and a rep asking was told to look in an inbox that got nothing."""

    def get_users(self, email: str) -> Iterator[Any]:
        model = get_user_model()
        field = model.get_email_field_name()
        wanted = unicodedata.normalize("NFKC", email).casefold()
        for user in model._default_manager.filter(**{f"{field}__iexact": email, "is_active": True}):
            if unicodedata.normalize("NFKC", getattr(user, field) or "").casefold() == wanted:
                yield user


class PasswordResetLimited(PasswordResetView):
    """Django's "forgotten your password" form (a new rep's invitation ends on its pages),
    which anyone may post and each post of which emails the address: counted per address
    and per email (``LEADFLOW_RATE_LIMITS["password_reset"]``), so nobody can flood a
    colleague's inbox or the mail server from it. Over a limit the form says when to try
    again, on its email field, with 429; nothing is sent."""

    form_class = PasswordResetForEveryone

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
