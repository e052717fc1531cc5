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
- form submissions are accepted only for forms configured in the admin, go
  through the API's lead checks and are refused whole when anything is wrong;
  they write only the lead fields the form lists (never stage, owner, scores or
  external id) and cannot set the properties Leadflow itself relies on;
- every endpoint is rate-limited per client address and per lead or visitor
  (``settings.LEADFLOW_RATE_LIMITS``, counted in the shared cache), so posting
  in a loop cannot buy a lead a score. Over a limit the answer is 429, except a
  click: the person still goes where the link goes, but nothing is recorded.

Each request records one interaction (its id a fresh UUID): opening an email
twice is two opens; rules' caps decide what they are worth.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.core import get_usage  # type: ignore[import-untyped]

from scoring import bodies, ingest, services
from scoring import events as checks
from scoring.api import LeadInSerializer
from scoring.models import Lead, TrackedForm

logger = logging.getLogger(__name__)

OPEN_SALT = "leadflow.tracking.open"
CLICK_SALT = "leadflow.tracking.click"
VISITOR_COOKIE = "lf_vid"
MAX_URL = 2000
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _web_url(url: object) -> str:
    if not isinstance(url, str):
        raise ValueError("only text URLs can be tracked")
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
    """What an open or click token says, or 404: tampered, made for the other
    purpose, of a shape Leadflow never signs, or for a lead since erased."""
    try:
        payload = signing.loads(token, salt=salt)
    except signing.BadSignature:
        raise Http404("unknown link") from None
    if (
        not isinstance(payload, dict)
        or type(payload.get("l")) is not int
        or not isinstance(payload.get("c"), str)
        or not isinstance(payload.get("p"), dict)
    ):
        raise Http404("unknown link")
    if salt == CLICK_SALT:
        try:
            _web_url(payload.get("u"))
        except ValueError:
            raise Http404("unknown link") from None
    if not Lead.objects.filter(pk=payload["l"]).exists():
        raise Http404("unknown link")  # e.g. the lead was erased
    return payload


# --- rate limits -------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str:
    """The address rate limits count by: the connection's own, or, behind
    ``LEADFLOW_TRUSTED_PROXY_COUNT`` reverse proxies, the one the outermost of them
    saw (it appended it to X-Forwarded-For; entries further left are the client's
    word and could be anything)."""
    remote = request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 - an address to count by, not to bind
    hops = settings.LEADFLOW_TRUSTED_PROXY_COUNT
    if hops > 0:
        chain = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        if len(chain) >= hops:
            try:
                return str(ipaddress.ip_address(chain[-hops]))
            except ValueError:
                pass  # a malformed header counts as the proxy's own address
    return remote


def rate_limited(request: HttpRequest, *, endpoint: str, kind: str, value: str) -> int | None:
    """Count this request against ``endpoint``'s limits of ``kind`` ("ip", "lead",
    "visitor") for ``value``. Returns the seconds until it may go on when over a
    limit, else None.

    Counted with django-ratelimit in the default cache (fixed windows; the
    value is hashed into the key, so no address or email is kept there).
    """
    for rate in settings.LEADFLOW_RATE_LIMITS[endpoint][kind]:
        try:
            usage = get_usage(
                request,
                group=f"leadflow.tracking.{endpoint}.{kind}",
                key=lambda _group, _request: value,
                rate=rate,
                increment=True,
            )
        except Exception:  # an unreachable cache must not lose the data: logged, not limited
            logger.warning("rate limit %s/%s not checked: the cache failed", endpoint, kind, exc_info=True)
            return None
        if usage is not None and usage["should_limit"]:
            return max(int(usage["time_left"]), 1)
    return None


def _too_many(response: HttpResponse, retry_after: int) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(retry_after)
    return response


def _record_email(kind: str, *, lead_id: int, properties: dict[str, Any]) -> None:
    """Store an open or click through the same checks and intake as the API. What
    the token carries was signed here, so a refusal is a bug: logged, and the person
    still gets the image or the link."""
    found = Lead.objects.filter(pk=lead_id).values_list("email", "external_id").first()
    if found is None:
        raise Http404("unknown lead")
    raw: dict[str, Any] = {
        "id": f"t-{uuid.uuid4()}",
        "type": kind,
        "lead": {"email": found[0]} if found[0] else {"external_id": found[1]},
        "properties": properties,
    }
    checked = checks.event_check(raw, index=0, now=timezone.now())
    if isinstance(checked, checks.Rejection):
        logger.warning("%s of lead %s not recorded: %s", kind, lead_id, checked.errors)
        return
    ingest.events_accept([checked], source="tracking")


def _email_limited(request: HttpRequest, endpoint: str, lead_id: int) -> int | None:
    return rate_limited(request, endpoint=endpoint, kind="ip", value=client_ip(request)) or rate_limited(
        request, endpoint=endpoint, kind="lead", value=str(lead_id)
    )


@never_cache
@require_GET
def email_open(request: HttpRequest, token: str) -> HttpResponse:
    payload = _payload(token, OPEN_SALT)
    wait = _email_limited(request, "open", payload["l"])
    if wait:
        # Still the pixel, so no mail client shows a broken image for it.
        return _too_many(HttpResponse(GIF, content_type="image/gif"), wait)
    _record_email("email_open", lead_id=payload["l"], properties={**payload["p"], "campaign": payload["c"]})
    return HttpResponse(GIF, content_type="image/gif")


@never_cache
@require_GET
def email_click(request: HttpRequest, token: str) -> HttpResponse:
    payload = _payload(token, CLICK_SALT)
    url = _web_url(payload["u"])
    # Over a limit the person still goes where the link goes; only the click is not recorded.
    if not _email_limited(request, "click", payload["l"]):
        properties = {**payload["p"], "campaign": payload["c"], "url": url}
        _record_email("email_click", lead_id=payload["l"], properties=properties)
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
    wait = rate_limited(request, endpoint="page", kind="ip", value=client_ip(request))
    if wait:
        return _cors(request, _too_many(JsonResponse({"detail": "too many page views from this address"}), wait))
    try:
        data = bodies.request_json(request)  # as checked by the body guard in front of the views
    except bodies.BodyError as error:
        refusal: dict[str, Any] = {"errors": {error.field: [error.reason]}} if error.field else {"detail": error.reason}
        return _cors(request, JsonResponse(refusal, status=error.status))
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
    raw = {"id": f"t-{uuid.uuid4()}", "type": "page_view", "visitor_id": visitor_id, "properties": properties}
    event = checks.event_check(raw, index=0, now=timezone.now())
    if isinstance(event, checks.Rejection):
        return _cors(request, JsonResponse({"errors": event.errors}, status=400))
    wait = rate_limited(request, endpoint="page", kind="visitor", value=str(visitor_id))
    if wait:
        return _cors(request, _too_many(JsonResponse({"detail": "too many page views from this visitor"}), wait))
    ingest.events_accept([event], source="tracking")
    return _cors(request, HttpResponse(status=204))


# --- forms -----------------------------------------------------------------------

# Lead fields a form may write: those the API may, less what only the company decides
# (lifecycle stage, external id). Custom attributes are listed one by one, as
# "attributes.<name>". Owner and scores are no source's to write.
FORM_LEAD_FIELDS = services.LEAD_EDITABLE_FIELDS - {"lifecycle_stage", "external_id", "attributes"}
ATTRIBUTE_PREFIX = "attributes."
# Interaction properties Leadflow sets, or that nurture and its figures read (the
# form's key; a message's campaign, sequence, step and delivery; where it came from):
# a posted field cannot replace them.
RESERVED_PROPERTIES = frozenset({"form", "campaign", "sequence", "step", "delivery", "source"})
# What a post says about who is submitting: the lead's email, the snippet's visitor id.
IDENTITY_FIELDS = frozenset({"email", "visitor_id"})
MAX_FORM_PROPERTIES = 50  # posted fields kept on the interaction
MAX_FIELD_NAME = 100
MAX_FIELD_VALUE = 5000


def form_lead_field_problems(names: object) -> list[str]:
    """Why a form's ``lead_fields`` cannot be saved; empty when they can."""
    example = 'e.g. ["first_name", "company", "attributes.goal"]'
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return [f"must be a list of field names, {example}"]
    problems = []
    for name in names:
        if name.startswith(ATTRIBUTE_PREFIX):
            attribute = name.removeprefix(ATTRIBUTE_PREFIX)
            if not attribute or not attribute.isprintable() or len(name) > MAX_FIELD_NAME:
                problems.append(f"{name!r}: name a custom attribute of at most {MAX_FIELD_NAME} characters")
        elif name not in FORM_LEAD_FIELDS:
            allowed = ", ".join(sorted(FORM_LEAD_FIELDS))
            problems.append(f"{name!r} cannot be set by a form; use {allowed} or attributes.<name>")
    if len(set(names)) != len(names):
        problems.append("lists a field twice")
    return problems


def _form_lead_fields(form: TrackedForm) -> set[str]:
    """The lead fields a post to ``form`` may write. A form saved before fields were
    checked keeps working, but the fields it may not write are not lead fields."""
    names = form.lead_fields if isinstance(form.lead_fields, list) else []
    return {name for name in names if isinstance(name, str) and not form_lead_field_problems([name])}


@dataclass(frozen=True)
class FormSubmission:
    email: str
    lead_fields: dict[str, Any]  # as the API's lead checks return them, without email
    event: checks.Event


class FormRefused(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {', '.join(m)}" for name, m in errors.items()))
        self.errors = errors


def form_submission_check(
    *, form: TrackedForm, post: QueryDict, cookie_visitor: str | None, now: Any
) -> FormSubmission:
    """Check a whole post to ``form``: the lead's fields through the API's checks, the
    others as interaction properties. Raises :class:`FormRefused` with every problem
    by field; writes nothing."""
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    emails = post.getlist("email")
    email = emails[-1] if emails else ""
    try:
        if len(emails) > 1:
            raise ValueError("give one value")
        email = checks.email_normalize(email)
    except ValueError as exc:
        fail("email", str(exc))

    visitor_id = post.get("visitor_id") or None
    if visitor_id is not None and not checks.VISITOR_ID.match(visitor_id):
        fail("visitor_id", "must be 1 to 64 letters, digits, '.', '_' or '-'")
    elif visitor_id is None and cookie_visitor and checks.VISITOR_ID.match(cookie_visitor):
        visitor_id = cookie_visitor

    listed = _form_lead_fields(form)
    lead_data: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    properties: dict[str, Any] = {}
    for name in post:
        if name in IDENTITY_FIELDS:
            continue
        values = post.getlist(name)
        shown = name if len(name) <= MAX_FIELD_NAME else f"{name[:40]}…"
        if len(name) > MAX_FIELD_NAME or not name.isprintable():
            fail(shown, f"field names are at most {MAX_FIELD_NAME} printable characters")
            continue
        if any(len(value) > MAX_FIELD_VALUE for value in values):
            fail(name, f"at most {MAX_FIELD_VALUE} characters")
            continue
        if checks.has_nul(values):
            fail(name, checks.NUL_MESSAGE)
            continue
        if name in listed:
            if len(values) > 1:
                fail(name, "give one value")
            elif values[0].strip():  # a field left blank changes nothing
                if name.startswith(ATTRIBUTE_PREFIX):
                    attributes[name.removeprefix(ATTRIBUTE_PREFIX)] = values[0]
                else:
                    lead_data[name] = values[0]
        elif name in RESERVED_PROPERTIES:
            fail(name, "reserved: Leadflow sets this property; give the form's field another name")
        else:
            properties[name] = values[0] if len(values) == 1 else values
    if len(properties) > MAX_FORM_PROPERTIES:
        fail("fields", f"at most {MAX_FORM_PROPERTIES} fields besides the lead's, got {len(properties)}")

    incoming = LeadInSerializer(
        data={"email": email, **lead_data, **({"attributes": attributes} if attributes else {})}
    )
    if not incoming.is_valid():
        for name, messages in incoming.errors.items():
            if name not in errors:
                errors[name] = [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]

    raw: dict[str, Any] = {
        "id": f"f-{uuid.uuid4()}",
        "type": "form_submit",
        "lead": {"email": email},
        "properties": {**properties, "form": form.key},
    }
    if visitor_id:
        raw["visitor_id"] = visitor_id  # identifies the visitor: its page views move to the lead
    event = checks.event_check(raw, index=0, now=now)
    if isinstance(event, checks.Rejection):
        for name, messages in event.errors.items():
            if name not in errors and not name.startswith("lead"):  # the email's errors are named above
                errors[name] = messages
    if errors or not isinstance(event, checks.Event):
        raise FormRefused(errors or {"email": ["must be an email address"]})
    fields = dict(incoming.validated_data)
    del fields["email"]
    return FormSubmission(email=email, lead_fields=fields, event=event)


def _wants_json(request: HttpRequest) -> bool:
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def _form_answer(
    request: HttpRequest,
    form: TrackedForm | None,
    *,
    status: int,
    errors: Mapping[str, list[str]] | None = None,
    message: str = "",
) -> HttpResponse:
    """A refusal: JSON for a client that asks for it, else a page for the person."""
    if _wants_json(request):
        return JsonResponse({"errors": errors} if errors else {"detail": message}, status=status)
    context = {"form": form, "errors": errors or {}, "message": message}
    return render(request, "scoring/tracking/form_error.html", context, status=status)


@csrf_exempt  # third-party sites post their forms here
@require_http_methods(["POST"])
def form_capture(request: HttpRequest, key: str) -> HttpResponse:
    """A submission of a form configured in the admin (an HTML form post).

    Checked whole before anything is written, then the lead and its interaction are
    written in one transaction: a refused post changes nothing."""
    wait = rate_limited(request, endpoint="form", kind="ip", value=client_ip(request))
    if wait:
        refusal = _form_answer(request, None, status=429, message="Too many submissions from this address.")
        return _too_many(refusal, wait)
    form = TrackedForm.objects.filter(key=key, active=True).first()
    if form is None:
        raise Http404("unknown form")
    try:
        post = request.POST
    except (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, MultiPartParserError) as exc:
        return _form_answer(request, form, status=400, errors={"body": [str(exc)]})
    try:
        submission = form_submission_check(
            form=form, post=post, cookie_visitor=request.COOKIES.get(VISITOR_COOKIE), now=timezone.now()
        )
    except FormRefused as exc:
        return _form_answer(request, form, status=400, errors=exc.errors)
    wait = rate_limited(request, endpoint="form", kind="lead", value=submission.email)
    if wait:
        refusal = _form_answer(request, form, status=429, message="Too many submissions for this email address.")
        return _too_many(refusal, wait)
    with transaction.atomic():
        services.lead_upsert(email=submission.email, fields=submission.lead_fields)
        ingest.events_accept([submission.event], source=f"form:{form.key}")
    if _wants_json(request):
        return JsonResponse({"detail": "received"})
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
