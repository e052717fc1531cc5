"""Public tracking under /t/: email open pixel and click redirect, the web
snippet and its page-view beacon, and form capture. No API key, but nothing
here can be forged into a lead's score:

- open and click links carry a token signed with the site's secret
  (``django.core.signing``, one salt per purpose); a tampered or unknown token
  gets 404 and records nothing, and a click only ever redirects to the URL
  inside its token (no open redirect);
- page views are recorded for an anonymous visitor only (the first-party
  cookie the snippet sets): forging them can only score a visitor the forger
  controls, until that visitor identifies with a form;
- form submissions are accepted only for forms configured in the admin.

Each request records one interaction (its id a fresh UUID): opening an email
twice is two opens; rules' caps decide what they are worth.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from scoring import events as checks
from scoring import ingest, services
from scoring.models import Lead, TrackedForm

OPEN_SALT = "leadflow.tracking.open"
CLICK_SALT = "leadflow.tracking.click"
VISITOR_COOKIE = "lf_vid"
MAX_URL = 2000
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _web_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or len(url) > MAX_URL:
        raise ValueError(f"only http(s) URLs of at most {MAX_URL} characters can be tracked, not {url[:80]!r}")
    return url


def email_open_token(*, lead_id: int, campaign: str, properties: dict[str, Any] | None = None) -> str:
    return signing.dumps({"l": lead_id, "c": campaign, "p": properties or {}}, salt=OPEN_SALT, compress=True)


def email_click_token(*, lead_id: int, url: str, campaign: str, properties: dict[str, Any] | None = None) -> str:
    payload = {"l": lead_id, "u": _web_url(url), "c": campaign, "p": properties or {}}
    return signing.dumps(payload, salt=CLICK_SALT, compress=True)


def open_url(*, lead_id: int, campaign: str, properties: dict[str, Any] | None = None) -> str:
    """The open pixel's path for one email to one lead."""
    token = email_open_token(lead_id=lead_id, campaign=campaign, properties=properties)
    return reverse("tracking:open", args=[token])


def click_url(*, lead_id: int, url: str, campaign: str, properties: dict[str, Any] | None = None) -> str:
    """The tracked path of a link in one email to one lead; it redirects to ``url``."""
    token = email_click_token(lead_id=lead_id, url=url, campaign=campaign, properties=properties)
    return reverse("tracking:click", args=[token])


def _payload(token: str, salt: str) -> dict[str, Any]:
    try:
        payload = signing.loads(token, salt=salt)
    except signing.BadSignature:
        raise Http404("unknown link") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("l"), int):
        raise Http404("unknown link")
    if not Lead.objects.filter(pk=payload["l"]).exists():
        raise Http404("unknown link")  # e.g. the lead was erased
    return payload


def _record(kind: str, *, lead_id: int | None = None, visitor_id: str | None = None, **properties: Any) -> None:
    """Store one interaction through the same checks and intake as the API."""
    raw: dict[str, Any] = {"id": f"t-{uuid.uuid4()}", "type": kind, "properties": properties}
    if lead_id is not None:
        email = Lead.objects.filter(pk=lead_id).values_list("email", "external_id").first()
        if email is None:
            raise Http404("unknown lead")
        raw["lead"] = {"email": email[0]} if email[0] else {"external_id": email[1]}
    if visitor_id is not None:
        raw["visitor_id"] = visitor_id
    checked = checks.event_check(raw, index=0, now=timezone.now())
    if isinstance(checked, checks.Rejection):
        raise ValidationError({name: messages for name, messages in checked.errors.items()})
    ingest.events_accept([checked], source="tracking")


@never_cache
@require_GET
def email_open(request: HttpRequest, token: str) -> HttpResponse:
    payload = _payload(token, OPEN_SALT)
    _record("email_open", lead_id=payload["l"], **{**payload["p"], "campaign": payload["c"]})
    return HttpResponse(GIF, content_type="image/gif")


@never_cache
@require_GET
def email_click(request: HttpRequest, token: str) -> HttpResponse:
    payload = _payload(token, CLICK_SALT)
    url = _web_url(payload["u"])
    _record("email_click", lead_id=payload["l"], **{**payload["p"], "campaign": payload["c"], "url": url})
    return HttpResponseRedirect(url)  # only ever the signed URL


# --- web pages -------------------------------------------------------------------


def _cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    origin = request.headers.get("Origin", "")
    if origin and origin in getattr(settings, "LEADFLOW_TRACKING_ORIGINS", []):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Vary"] = "Origin"
    return response


@require_GET
def snippet(request: HttpRequest) -> HttpResponse:
    """The JavaScript a site embeds: ``<script async src="…/t/lf.js"></script>``."""
    response = render(request, "scoring/tracking/lf.js", {"cookie": VISITOR_COOKIE}, content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _text(data: dict[str, Any], name: str, limit: int, errors: dict[str, list[str]]) -> str:
    value = data.get(name) or ""
    if not isinstance(value, str) or len(value) > limit or checks.has_nul(value):
        errors.setdefault(name, []).append(f"must be text of at most {limit} characters")
        return ""
    return value


@csrf_exempt  # a cookie-less, anonymous write from other sites' pages
@require_http_methods(["POST", "OPTIONS"])
def page_view(request: HttpRequest) -> HttpResponse:
    """The snippet's beacon: ``{visitor_id, url, title, referrer, seconds_on_page}``
    (JSON, sent as text/plain by ``navigator.sendBeacon``)."""
    if request.method == "OPTIONS":
        return _cors(request, HttpResponse(status=204))
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _cors(request, JsonResponse({"detail": "the body must be JSON"}, status=400))
    if not isinstance(data, dict):
        return _cors(request, JsonResponse({"detail": "the body must be a JSON object"}, status=400))
    errors: dict[str, list[str]] = {}
    visitor_id = data.get("visitor_id")
    if not isinstance(visitor_id, str) or not checks.VISITOR_ID.match(visitor_id):
        errors["visitor_id"] = ["must be 1 to 64 letters, digits, '.', '_' or '-'"]
    url = _text(data, "url", MAX_URL, errors)
    try:
        _web_url(url)
    except ValueError as exc:
        errors.setdefault("url", []).append(str(exc))
    properties: dict[str, Any] = {
        "url": url,
        "path": urlsplit(url).path,
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
        return _cors(request, JsonResponse({"errors": errors}, status=400))
    _record("page_view", visitor_id=str(visitor_id), **properties)
    return _cors(request, HttpResponse(status=204))


@csrf_exempt  # third-party sites post their forms here
@require_http_methods(["POST"])
def form_capture(request: HttpRequest, key: str) -> HttpResponse:
    """A submission of a form configured in the admin (an HTML form post)."""
    form = TrackedForm.objects.filter(key=key, active=True).first()
    if form is None:
        raise Http404("unknown form")
    fields = {name: request.POST.get(name, "") for name in request.POST if name not in {"email", "visitor_id"}}
    try:
        email = checks.email_normalize(request.POST.get("email"))
    except ValueError as exc:
        return render(request, "scoring/tracking/form_error.html", {"form": form, "error": f"email: {exc}"}, status=400)
    lead_fields: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for name in form.lead_fields:
        if name in fields and name.startswith("attributes."):
            attributes[name.removeprefix("attributes.")] = fields[name]
        elif name in fields and name in services.LEAD_EDITABLE_FIELDS:
            lead_fields[name] = fields[name]
    if attributes:
        lead_fields["attributes"] = attributes
    services.lead_upsert(email=email, fields=lead_fields)
    visitor_id = request.POST.get("visitor_id") or request.COOKIES.get(VISITOR_COOKIE)
    if visitor_id is not None and not checks.VISITOR_ID.match(visitor_id):
        visitor_id = None
    others = {name: value for name, value in fields.items() if name not in form.lead_fields}
    raw: dict[str, Any] = {
        "id": f"f-{uuid.uuid4()}",
        "type": "form_submit",
        "lead": {"email": email},
        "properties": {"form": form.key, **others},
    }
    if visitor_id:
        raw["visitor_id"] = visitor_id  # identifies the visitor: its page views move to the lead
    checked = checks.event_check(raw, index=0, now=timezone.now())
    if isinstance(checked, checks.Rejection):
        error = "; ".join(f"{name}: {', '.join(m)}" for name, m in checked.errors.items())
        return render(request, "scoring/tracking/form_error.html", {"form": form, "error": error}, status=400)
    ingest.events_accept([checked], source=f"form:{form.key}")
    if form.success_url:
        return HttpResponseRedirect(form.success_url, status=303)
    return render(request, "scoring/tracking/form_thanks.html", {"form": form})


app_name = "tracking"
urlpatterns = [
    path("o/<str:token>.gif", email_open, name="open"),
    path("c/<str:token>", email_click, name="click"),
    path("lf.js", snippet, name="snippet"),
    path("p", page_view, name="page_view"),
    path("f/<slug:key>", form_capture, name="form"),
]
