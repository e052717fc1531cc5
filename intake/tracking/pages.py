"""The web snippet and its page-view beacon. Page views are recorded for an
anonymous visitor only (the first-party cookie the snippet sets): forging them
can only score a visitor the forger controls, until that visitor identifies
itself with a form."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from intake import bodies, ingest
from intake import events as checks
from intake.cors import cors
from intake.tracking.limits import client_network, lead_counted_as, rate_limited, too_many
from nurture.links import MAX_URL, web_url

VISITOR_COOKIE = "lf_vid"
REQUIRED = "This field is required."  # DRF's words, in English as the beacon's other reasons


@require_GET
def snippet(request: HttpRequest) -> HttpResponse:
    """The JavaScript a site embeds: ``<script async src="…/t/lf.js"></script>``."""
    response = render(request, "intake/tracking/lf.js", {"cookie": VISITOR_COOKIE}, content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _text(data: dict[str, Any], name: str, limit: int, errors: dict[str, list[str]]) -> str:
    """The text field ``name`` holds ("" when missing or null), or "" with the one reason it
    cannot be kept in ``errors``."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problem = "must be text"
    elif len(value) > limit:
        problem = f"must be text of at most {limit} characters"
    elif checks.has_nul(value):
        problem = checks.NUL_MESSAGE
    else:
        return value
    errors.setdefault(name, []).append(problem)
    return ""


@csrf_exempt  # a cookie-less, anonymous write from other sites' pages
@require_http_methods(["POST", "OPTIONS"])
def page_view(request: HttpRequest) -> HttpResponse:
    """The snippet's beacon: ``{visitor_id, url, title, referrer, seconds_on_page}``
    (JSON, sent as text/plain by ``navigator.sendBeacon``)."""
    if request.method == "OPTIONS":
        return cors(request, HttpResponse(status=204))
    wait = rate_limited(request, endpoint="page", kind="ip", value=client_network(request))
    if wait:
        return cors(request, too_many(JsonResponse({"detail": "too many page views from this address"}), wait))
    try:
        data = bodies.request_json(request)  # as checked by the body guard in front of the views
    except bodies.BodyError as error:
        refusal: dict[str, Any] = {"errors": {error.field: [error.reason]}} if error.field else {"detail": error.reason}
        return cors(request, JsonResponse(refusal, status=error.status))
    if not isinstance(data, dict):
        return cors(request, JsonResponse({"detail": "the body must be a JSON object"}, status=400))
    errors: dict[str, list[str]] = {}
    visitor_id = data.get("visitor_id")
    if not checks.is_visitor_id(visitor_id):
        errors["visitor_id"] = ["must be 1 to 64 letters, digits, '.', '_' or '-'"]
    url = _text(data, "url", MAX_URL, errors)
    path = ""
    if "url" not in errors and not url.strip():  # missing, null or blank
        errors["url"] = [REQUIRED]
    if "url" not in errors:  # one reason for a url: not what web_url says of the "" kept for it
        try:
            path = urlsplit(web_url(url)).path
        except ValueError as exc:
            errors["url"] = [str(exc)]
    properties: dict[str, Any] = {
        "url": url,
        "path": path,
        "title": _text(data, "title", 500, errors),
        "referrer": _text(data, "referrer", MAX_URL, errors),
    }
    seconds = data.get("seconds_on_page")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 86400:
            errors["seconds_on_page"] = ["must be a number of seconds from 0 to 86400"]
        else:
            properties["seconds_on_page"] = round(seconds)
    if errors:
        return cors(request, JsonResponse({"errors": errors}, status=400))
    raw = {"id": f"t-{uuid.uuid4()}", "type": "page_view", "visitor_id": visitor_id, "properties": properties}
    event = checks.event_check(raw, index=0, now=timezone.now())
    if isinstance(event, checks.Rejection):
        return cors(request, JsonResponse({"errors": event.errors}, status=400))
    wait = rate_limited(request, endpoint="page", kind="visitor", value=str(visitor_id))
    if wait:
        return cors(request, too_many(JsonResponse({"detail": "too many page views from this visitor"}), wait))
    if lead := ingest.visitor_lead(str(visitor_id)):
        # A visitor tied to a lead scores it: what it sends counts as what pages bring the lead,
        # else made-up visitors, each tied to it by a form's post, brought it 500 a day each.
        wait = rate_limited(request, endpoint="browser", kind="lead", value=lead_counted_as(*lead))
        if wait:
            detail = "too many page views for this visitor's lead"
            return cors(request, too_many(JsonResponse({"detail": detail}), wait))
    ingest.events_accept([event], source="tracking")
    return cors(request, HttpResponse(status=204))
