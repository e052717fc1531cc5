"""CORS for the doors other sites' pages call with ``fetch``: the answer carries the headers
that let a page of an allowed site (``LEADFLOW_TRACKING_ORIGINS``) read it."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """``response`` with the CORS headers that let a page of an allowed site
    (``LEADFLOW_TRACKING_ORIGINS``) read it from ``fetch``; unchanged for any other origin."""
    origin = request.headers.get("Origin", "")
    if origin and origin in getattr(settings, "LEADFLOW_TRACKING_ORIGINS", []):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Vary"] = "Origin"
    return response
