"""Form capture: submissions of forms configured in the admin, from other sites' pages.

A post goes through the API's lead checks and is refused whole when anything is
wrong; it writes only the lead fields the form lists (never stage, owner, scores
or external id), and of a known lead only those it has empty (a post says what
Leadflow does not know, as a key used in web pages does), and cannot set the
properties Leadflow itself relies on. A form that
lists ``account_id`` (a company's landing page per account, with the id in a hidden
field) puts the lead in that account, as the API's ``account_id`` does, if no account
was named for it yet.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.http.multipartparser import FIELD, RAW, ChunkIter, LazyStream, MultiPartParserError, Parser
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.http import parse_header_parameters
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from intake import events as checks
from intake import ingest
from intake.api import LeadInSerializer
from intake.models import TrackedForm
from intake.tracking.limits import client_network, rate_limited, rate_room, too_many
from intake.tracking.pages import VISITOR_COOKIE
from scoring import lead_fields, services

logger = logging.getLogger(__name__)

StrOrPromise = str | Promise

# Lead fields a form may write (scoring.lead_fields): those the API may, less what only
# the company decides (lifecycle stage, external id). Custom attributes are listed one
# by one, as "attributes.<name>". Owner and scores are no source's to write.
FORM_LEAD_FIELDS = lead_fields.ANONYMOUS
ATTRIBUTE_PREFIX = "attributes."
# Not a lead field: the company's id in another system, which names the lead's account.
ACCOUNT_FIELD = "account_id"
# What a post says about who is submitting: the lead's email, the snippet's visitor id.
IDENTITY_FIELDS = frozenset({"email", "visitor_id"})
MAX_FORM_PROPERTIES = checks.MAX_FIELDS_FROM_A_PAGE  # posted fields kept on the interaction
MAX_FIELD_NAME = 100
MAX_FIELD_VALUE = checks.MAX_VALUE_FROM_A_PAGE


def form_lead_field_problems(names: object) -> list[str]:
    """Why a form's ``lead_fields`` cannot be saved; empty when they can. In the reader's
    language: the admin shows them on the field."""
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return [gettext("must be a list of field names, e.g. first_name, company, attributes.goal")]
    problems = []
    for name in names:
        if name.startswith(ATTRIBUTE_PREFIX):
            attribute = name.removeprefix(ATTRIBUTE_PREFIX)
            if not attribute or not attribute.isprintable() or len(name) > MAX_FIELD_NAME:
                problems.append(
                    gettext("{name}: name a custom attribute of at most {count} characters").format(
                        name=repr(name), count=MAX_FIELD_NAME
                    )
                )
            elif attribute in lead_fields.RESERVED_ATTRIBUTES:
                problems.append(
                    gettext("{name}: {field} is the lead's own field, never a custom attribute").format(
                        name=repr(name), field=attribute
                    )
                )
        elif name not in FORM_LEAD_FIELDS and name != ACCOUNT_FIELD:
            allowed = ", ".join(sorted({*FORM_LEAD_FIELDS, ACCOUNT_FIELD}))
            problems.append(
                gettext("{name} cannot be set by a form; use {allowed} or attributes.<name>").format(
                    name=repr(name), allowed=allowed
                )
            )
    if len(set(names)) != len(names):
        problems.append(gettext("lists a field twice"))
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
    account_id: str | None = None  # the company's id, when the form lists account_id


class FormRefused(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {', '.join(m)}" for name, m in errors.items()))
        self.errors = errors


def form_submission_check(
    *, form: TrackedForm, post: QueryDict, cookie_visitor: str | None, now: datetime
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
            raise ValueError(gettext("give one value"))
        email = checks.email_normalize(email)
    except ValueError as exc:
        fail("email", str(exc))

    visitor_id = post.get("visitor_id") or None
    if visitor_id is not None and not checks.is_visitor_id(visitor_id):
        fail("visitor_id", gettext("must be 1 to 64 letters, digits, '.', '_' or '-'"))
    elif visitor_id is None and checks.is_visitor_id(cookie_visitor):
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
            fail(shown, gettext("field names are at most {count} printable characters").format(count=MAX_FIELD_NAME))
            continue
        if any(len(value) > MAX_FIELD_VALUE for value in values):
            fail(name, gettext("at most {count} characters").format(count=MAX_FIELD_VALUE))
            continue
        if checks.has_nul(values):
            fail(name, checks.NUL_MESSAGE)
            continue
        if name in listed:
            if len(values) > 1:
                fail(name, gettext("give one value"))
            elif values[0].strip():  # a field left blank changes nothing
                if name.startswith(ATTRIBUTE_PREFIX):
                    attributes[name.removeprefix(ATTRIBUTE_PREFIX)] = values[0]
                else:
                    lead_data[name] = values[0]
        elif name in checks.RESERVED_PROPERTIES:
            fail(name, gettext("reserved: Leadflow sets this property; give the form's field another name"))
        else:
            properties[name] = values[0] if len(values) == 1 else values
    if len(properties) > MAX_FORM_PROPERTIES:
        fail(
            "fields",
            gettext("at most {count} fields besides the lead's, got {got}").format(
                count=MAX_FORM_PROPERTIES, got=len(properties)
            ),
        )

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
        raise FormRefused(errors or {"email": [gettext("must be an email address")]})
    fields = dict(incoming.validated_data)
    del fields["email"]
    account_id = fields.pop(ACCOUNT_FIELD, None)
    return FormSubmission(email=email, lead_fields=fields, event=event, account_id=account_id)


def _visitor_moves_counted(request: HttpRequest, form: TrackedForm, submission: FormSubmission) -> dict[str, int]:
    """How many of the page views the post's visitor brings its lead (a visitor the post
    ties to it) the lead's limit lets through, by the visitor's key: each counts against
    the limit a key used in web pages' messages for a lead count against (``browser``),
    else made-up visitors, each tied by a post, brought a lead any number. Those past it
    stay with the visitor, unscored, and the log says how many. The cap holds for page views
    the visitor sends between this count and the move too. Empty: the post names no visitor."""
    visitor = submission.event.visitor_id
    if not visitor:
        return {}
    waiting = ingest.visitor_interactions_waiting(visitor)
    room = (
        rate_room(request, endpoint="browser", kind="lead", value=submission.email.lower(), wanted=waiting)
        if waiting
        else 0
    )
    if room < waiting:
        logger.warning(
            "form %s: %d page views of its visitor were left unscored: over the lead's limit for what pages"
            " bring it (LEADFLOW_RATE_BROWSER_LEAD); %d moved to the lead",
            form.key,
            waiting - room,
            room,
        )
    return {visitor: room}


def _wants_json(request: HttpRequest) -> bool:
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def _form_answer(
    request: HttpRequest,
    form: TrackedForm | None,
    *,
    status: int,
    errors: Mapping[str, list[str]] | None = None,
    message: StrOrPromise = "",
) -> HttpResponse:
    """A refusal: JSON for a client that asks for it (in English, like the API's), else a
    page for the person in their language."""
    if _wants_json(request):
        with translation.override("en"):
            detail = str(message)
        return JsonResponse({"errors": errors} if errors else {"detail": detail}, status=status)
    context = {"form": form, "errors": errors or {}, "message": message}
    return render(request, "intake/tracking/form_error.html", context, status=status)


def _too_large(request: HttpRequest, exc: Exception) -> StrOrPromise:
    """Why a post over a limit is refused, with the limit (Django's words name its settings)."""
    if isinstance(exc, TooManyFieldsSent):
        return format_lazy(
            gettext_lazy("The body has more fields than the limit of {limit}."),
            limit=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    if isinstance(exc, TooManyFilesSent):
        return format_lazy(
            gettext_lazy("The body has more files than the limit of {limit}."),
            limit=settings.DATA_UPLOAD_MAX_NUMBER_FILES,
        )
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isascii() and length.isdigit() and int(length) > limit:
        return format_lazy(
            gettext_lazy("The body is {length} bytes; the limit is {limit} bytes."), length=length, limit=limit
        )
    return format_lazy(gettext_lazy("The body is over the limit of {limit} bytes."), limit=limit)


def _urlencoded_fields(request: HttpRequest) -> Iterator[tuple[bytes, bytes]]:
    """The name and value of each field of a URL-encoded post as sent."""
    for pair in request.body.split(b"&"):
        name, _, value = pair.partition(b"=")
        yield unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))


def _multipart_fields(request: HttpRequest) -> Iterator[tuple[bytes, bytes]]:
    """The name and value of each field of a multipart post as sent, split from its body by
    Django's own parser; its files are left out (their bytes are anything)."""
    boundary = (request.content_params or {})["boundary"].encode("ascii")  # Django read the post with it
    for kind, meta, part in Parser(LazyStream(ChunkIter(BytesIO(request.body))), boundary):
        if kind == FIELD:
            name, value = meta["content-disposition"][1].get("name"), part.read()
            transfer = meta.get("content-transfer-encoding")
            if transfer and transfer[0].strip() == "base64":
                with suppress(binascii.Error):  # Django keeps what is not base64 as sent
                    value = base64.b64decode(value)
            if isinstance(name, bytes):
                yield name.strip(), value
        elif kind == RAW:
            # Django leaves out a part whose header line is not UTF-8, and its field with it:
            # that line is the field's bytes that are not text.
            head, _, _ = part.read().partition(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                with suppress(ValueError):
                    main, params = parse_header_parameters(line.decode("latin-1"))
                    if main.startswith("content-disposition:") and "name" in params and "filename" not in params:
                        yield params["name"].encode("latin-1").strip(), line


def _undecodable_fields(request: HttpRequest) -> list[str]:
    """The fields of a URL-encoded or multipart post whose name or value are not text in the
    post's encoding (UTF-8 unless it says another), each named as Django read it."""
    if request.content_type == "application/x-www-form-urlencoded":
        fields = _urlencoded_fields(request)
    elif request.content_type == "multipart/form-data":
        fields = _multipart_fields(request)
    else:
        return []
    encoding = request.encoding or settings.DEFAULT_CHARSET
    undecodable = []
    for name, value in fields:
        try:
            name.decode(encoding)
            value.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            undecodable.append(name.decode(encoding, errors="replace"))
    return undecodable


@csrf_exempt  # third-party sites post their forms here
@require_http_methods(["POST"])
def form_capture(request: HttpRequest, key: str) -> HttpResponse:
    """A submission of a form configured in the admin (an HTML form post).

    Checked whole before anything is written, then the lead and its interaction are
    written in one transaction: a refused post changes nothing."""
    wait = rate_limited(request, endpoint="form", kind="ip", value=client_network(request))
    if wait:
        refusal = _form_answer(
            request, None, status=429, message=gettext_lazy("Too many submissions from this address.")
        )
        return too_many(refusal, wait)
    form = TrackedForm.objects.filter(key=key, active=True).first()
    if form is None:
        raise Http404("unknown form")
    try:
        # A multipart post read whole first, as a URL-encoded one is, so that its fields' bytes
        # can be checked as sent: Django decodes them to "\ufffd" and leaves out a field whose
        # name is not UTF-8. Its files count toward the limit: a form keeps none.
        request.body  # noqa: B018
        post = request.POST
    except (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent) as exc:
        return _form_answer(request, form, status=413, message=_too_large(request, exc))
    except MultiPartParserError as exc:
        return _form_answer(request, form, status=400, errors={"body": [str(exc)]})
    if undecodable := _undecodable_fields(request):
        # Django reads such bytes as "\ufffd" and the lead would keep "��" for the name typed.
        with translation.override("en") if _wants_json(request) else nullcontext():
            problem = gettext("must be text in UTF-8: the bytes sent are not")
        return _form_answer(request, form, status=400, errors={name: [problem] for name in undecodable})
    try:
        # A person reads why in their language; a program asking for JSON, in English.
        with translation.override("en") if _wants_json(request) else nullcontext():
            submission = form_submission_check(
                form=form, post=post, cookie_visitor=request.COOKIES.get(VISITOR_COOKIE), now=timezone.now()
            )
    except FormRefused as exc:
        return _form_answer(request, form, status=400, errors=exc.errors)
    wait = rate_limited(request, endpoint="form", kind="lead", value=submission.email)
    if wait:
        refusal = _form_answer(
            request, form, status=429, message=gettext_lazy("Too many submissions for this email address.")
        )
        return too_many(refusal, wait)
    moves_at_most = _visitor_moves_counted(request, form, submission)
    with transaction.atomic():
        # Anyone can post a form, as anyone can use a key read from a web page: its fields
        # fill only what the lead lacks, as that key's identify does, and describe the lead,
        # never the lead's company for everyone (no account is described nor filled).
        # The names of the custom attributes the form lists are the marketer's.
        services.attribute_names_record(submission.lead_fields.get("attributes") or ())
        identity = ingest.Identity(
            email=submission.email, fields=submission.lead_fields, account_id=submission.account_id
        )
        ingest.leads_identify([identity], fill_only=True)
        # Its fit follows in this transaction, as a trusted write's does.
        services.leads_rescore_fit(lead_ids=services.leads_by_email({submission.email}).values())
        ingest.events_accept([submission.event], source=f"form:{form.key}", moves_at_most=moves_at_most)
    if _wants_json(request):
        return JsonResponse({"detail": "received"})
    if form.success_url:
        return HttpResponseRedirect(form.success_url, status=303)
    return render(request, "intake/tracking/form_thanks.html", {"form": form})
