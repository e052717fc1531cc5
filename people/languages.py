"""The language a person sees: their own choice when signed in, else the language
cookie the switcher sets, else the browser's (LocaleMiddleware), else the site's."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from people.models import Preference

LANGUAGE_CODES = frozenset(code for code, _name in settings.LANGUAGES)
# The doors other programs use: their errors stay English whatever the caller's
# Accept-Language says (programs match on them; people read the pages).
SESSION_KEY = "preferred_language"
PROGRAM_DOORS = ("/api/", "/v1/", "/beacon/", "/sourceConfig/")


class PreferredLanguage:
    """After authentication: a signed-in person's saved language wins over the browser's;
    the API and the analytics doors answer in English."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path.startswith(PROGRAM_DOORS):
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Read from the person's saved preference when they signed in (remember_on_login):
            # no query per request.
            language = request.session.get(SESSION_KEY)
            if language in LANGUAGE_CODES:
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)


def remember_on_login(sender: object, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: object) -> None:
    """``user_logged_in``: the person's saved language, kept in their session."""
    if request is None or not hasattr(request, "session"):
        return
    saved = Preference.objects.filter(user_id=user.pk).values_list("language", flat=True).first()
    if saved:
        request.session[SESSION_KEY] = saved


def site_language() -> str:
    return settings.LANGUAGE_CODE


def language_of(user: AbstractBaseUser | None) -> str:
    """The language to write to a person in (system emails): their saved choice, else the site's."""
    if user is None or user.pk is None:
        return site_language()
    saved = Preference.objects.filter(user_id=user.pk).values_list("language", flat=True).first()
    return saved if saved in LANGUAGE_CODES else site_language()


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The switcher: remember the language (cookie; and the person's preference when
    signed in) and go back to the page. An unknown language changes nothing."""
    following = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(following, {request.get_host()}, require_https=request.is_secure()):
        following = "/"
    response = HttpResponseRedirect(following)
    language = request.POST.get("language", "")
    if language not in LANGUAGE_CODES:
        return response
    if request.user.is_authenticated:
        Preference.objects.update_or_create(user=request.user, defaults={"language": language})
        request.session[SESSION_KEY] = language
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
        secure=request.is_secure(),
        httponly=True,
    )
    return response
