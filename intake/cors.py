"""CORS for the doors other sites' pages call with ``fetch`` or XHR (the page beacon, the
Segment-compatible endpoints, the SDKs' settings): the answer carries the headers that let
a page of an allowed site (``LEADFLOW_TRACKING_ORIGINS``) send to it and read it.

The analytics SDKs send the write key as ``Authorization: Basic``, JSON as
``Content-Type: application/json`` and RudderStack its visitor as ``AnonymousId``: none
is a header a browser sends without asking, so it first asks (``OPTIONS``, the
preflight), and sends nothing unless the answer allows the origin, method and headers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

# What the SDKs send (Segment's analytics-next, RudderStack's analytics-js); a gzip
# body says so in Content-Encoding.
ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, AnonymousId"
# Chromium keeps a preflight's answer at most two hours: one preflight per endpoint then.
PREFLIGHT_MAX_AGE_SECONDS = 7200

View = Callable[..., HttpResponse]


def origin_allowed(request: HttpRequest) -> str | None:
    """The request's origin when it is an allowed site's, else None."""
    origin = request.headers.get("Origin", "")
    return origin if origin and origin in getattr(settings, "LEADFLOW_TRACKING_ORIGINS", []) else None


def cors(request: HttpRequest, response: HttpResponse, *, methods: str = "POST, OPTIONS") -> HttpResponse:
    """``response`` with the CORS headers that let a page of an allowed site
    (``LEADFLOW_TRACKING_ORIGINS``) send ``methods`` with the SDKs' headers and read
    the answer; unchanged for any other origin."""
    origin = origin_allowed(request)
    if origin is not None:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
    # Whatever the origin: a cache must not hand one site's answer to another.
    patch_vary_headers(response, ["Origin"])
    return response


def cross_site(*methods: str) -> Callable[[View], View]:
    """A view other sites' pages call with ``methods``: a preflight (``OPTIONS``) is
    answered here, every other method outside ``methods`` gets 405, and each answer
    carries the CORS headers for an allowed origin. No CSRF check: these doors take no
    cookie, only a key or nothing."""
    allowed = ", ".join([*methods, "OPTIONS"])

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                return cors(request, HttpResponse(status=204), methods=allowed)
            if request.method not in methods:
                detail = f"{request.method} is not allowed here: use {' or '.join(methods)}"
                response = JsonResponse({"detail": detail}, status=405)
                response["Allow"] = allowed
                return cors(request, response, methods=allowed)
            return cors(request, view(request, *args, **kwargs), methods=allowed)

        return wrapped

    return decorate
