"""Segment-compatible HTTP Tracking API: ``POST /v1/identify``, ``/v1/track``,
``/v1/page``, ``/v1/screen``, ``/v1/group``, ``/v1/alias`` and ``/v1/batch``, and
the short paths Segment's browser SDK sends to (``/v1/i``, ``t``, ``p``, ``s``,
``g``, ``a`` and ``b``), so the analytics SDKs a team already uses (Segment's and
RudderStack's) can send to Leadflow by changing only their host. RudderStack's
beacon posts ``/beacon/v1/batch?writeKey=…``. Pages of the sites in
``LEADFLOW_TRACKING_ORIGINS`` may call all of them (CORS, preflights answered).

- The write key is a Leadflow API key, sent as HTTP Basic user name (what the
  SDKs do), as ``writeKey`` in the body, or as a Bearer token; on the beacon
  (``navigator.sendBeacon`` cannot send headers) in the query string.
- Bodies may be gzip-encoded (``Content-Encoding: gzip``); the decompressed
  size is capped like any API body.
- ``messageId`` is the idempotency key; ``userId`` names the lead (an email,
  or else its external id; ``traits.email`` wins), ``anonymousId`` the
  visitor. Traits are read from ``traits`` and from ``context.traits`` (where
  RudderStack's SDKs put them; ``traits`` wins). ``identify`` writes traits to
  the lead (known ones to its fields, the rest to its custom attributes) and,
  with an ``anonymousId``, identifies the visitor: its page views move to the
  lead. ``track`` records an
  interaction whose type comes from the event name (``"Email Opened"``,
  ``"Form Submitted"``… or a Leadflow type such as ``form_submit``);
  ``page`` records a page view. ``screen``, ``group`` and ``alias`` messages
  are accepted and ignored (counted under ``ignored``).
- Time: ``timestamp`` corrected for the device's clock skew with ``sentAt``
  (occurred = timestamp + (received - sentAt)), as Segment does; a time
  before 1970 or more than a day ahead, as sent or once corrected, is refused
  naming the field it came from.
- Segment's own limits: a batch of at most 500 KB and 1,000 messages, a
  message of at most 32 KB (a larger body is refused whole, changing nothing).
- The write key needs the scope ``events:write`` (403 otherwise).
- A batch is one transaction: it answers each message's fate (counts, and
  the rejected ones by index and field) or, failing, changes nothing.

Answers ``200 {"success": true}`` like Segment, plus Leadflow's counts. A
single-message endpoint whose message is refused answers 400 with its errors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone

from intake import bodies, ingest
from intake import events as checks
from intake.api_keys import InvalidKey, api_key_has_scope, api_key_verify
from intake.cors import cross_site
from intake.models import ApiKey, ApiScope
from scoring import lead_fields
from scoring.timestamps import timestamp_in_range

logger = logging.getLogger(__name__)

EVENT_TYPES = {
    "email opened": "email_open",
    "email link clicked": "email_click",
    "email clicked": "email_click",
    "form submitted": "form_submit",
    "webinar attended": "webinar",
    "webinar registered": "webinar",
    "survey answered": "survey_answer",
    "file downloaded": "download",
    "downloaded": "download",
    "page viewed": "page_view",
    "social mention": "social_mention",
}
IGNORED_TYPES = {"screen", "group", "alias"}
# Traits that set a lead field (scoring.lead_fields); "company" and "address" are read apart.
TRAIT_FIELDS = lead_fields.TRAITS
# The lead's company_size column (PostgreSQL integer) holds no more.
MAX_EMPLOYEES = 2_147_483_647
# Leadflow's event fields, as Segment calls them, for errors a sender can act on.
SEGMENT_NAMES = {
    "id": "messageId",
    "lead": "userId",
    "lead.external_id": "userId",
    "visitor_id": "anonymousId",
}


class Refusal(Exception):
    """A request refused whole, answered in Segment's shape: ``{"success": false, "detail": …}``."""

    def __init__(self, status: int, detail: str, errors: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors

    def response(self) -> JsonResponse:
        body: dict[str, Any] = {"success": False, "detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        return JsonResponse(body, status=self.status)


def request_write_key(request: HttpRequest, body: Mapping[str, Any], *, in_query: bool = False) -> str:
    """The write key the request sends: HTTP Basic user name, Bearer token, ``writeKey``
    in the body or, when ``in_query``, in the query string; or :class:`Refusal`."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    key = ""
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(credentials).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise Refusal(401, "the Basic credentials are not valid base64") from None
    elif scheme.lower() == "bearer":
        key = credentials
    elif isinstance(body.get("writeKey"), str):
        key = body["writeKey"]
    elif in_query:
        key = request.GET.get("writeKey", "")
    if not key:
        where = "as writeKey in the query string" if in_query else "as writeKey"
        raise Refusal(401, f"send the write key (a Leadflow API key) by HTTP Basic auth or {where}")
    return key


def write_key_verify(key: str) -> ApiKey:
    """The active API key ``key`` is, allowed to send events; or :class:`Refusal` saying why not."""
    try:
        api_key = api_key_verify(key)
    except InvalidKey as exc:
        raise Refusal(401, str(exc), {"writeKey": [str(exc)]}) from None
    if not api_key_has_scope(api_key, ApiScope.EVENTS_WRITE):
        scope = ApiScope.EVENTS_WRITE.value
        raise Refusal(403, f"This write key lacks the scope {scope}.", {"writeKey": [f"needs the scope {scope}"]})
    return api_key


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _when(
    message: Mapping[str, Any], batch: Mapping[str, Any], received: datetime
) -> tuple[datetime | None, dict[str, list[str]]]:
    """When it happened, corrected for the device's clock skew; None for now. Or errors by Segment field."""
    name = "timestamp" if message.get("timestamp") else "originalTimestamp"
    stamp = message.get(name)
    if stamp is None:
        return None, {}
    sent_name = "sentAt"  # the message's, else the batch's
    sent = message.get("sentAt") or batch.get("sentAt")
    try:
        occurred = checks.timestamp_parse(stamp)
    except ValueError as exc:
        return None, {name: [str(exc)]}
    if sent is not None:
        try:
            occurred += received - checks.timestamp_parse(sent)
        except ValueError as exc:
            return None, {sent_name: [str(exc)]}
        except OverflowError:
            return None, {sent_name: ["is so far from when the message arrived that the corrected time is no date"]}
    try:
        return timestamp_in_range(occurred, now=received), {}
    except ValueError as exc:
        reason = f"{exc} (corrected for the device's clock with {sent_name})" if sent is not None else str(exc)
        return None, {name: [reason]}


def _visitor(anonymous_id: object) -> str | None:
    if anonymous_id is None or anonymous_id == "":
        return None
    text = str(anonymous_id)
    if checks.is_visitor_id(text):
        return text
    return "h-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _traits(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message's traits: ``context.traits`` (where RudderStack's SDKs put an
    identify's) overlaid with ``traits`` (Segment's place), so neither is lost."""
    return {**_object(_object(message.get("context")).get("traits")), **_object(message.get("traits"))}


def _trait_name(message: Mapping[str, Any], name: str) -> str:
    """Where the trait ``name`` was read from, for an error the sender can find."""
    return f"traits.{name}" if name in _object(message.get("traits")) else f"context.traits.{name}"


def _lead_ref(message: Mapping[str, Any]) -> dict[str, Any] | None:
    traits = _traits(message)
    user_id = message.get("userId")
    email = traits.get("email")
    if isinstance(user_id, str) and "@" in user_id and email is None:
        return {"email": user_id}
    ref: dict[str, Any] = {}
    if email is not None:
        ref["email"] = email
    if user_id not in (None, ""):
        ref["external_id"] = user_id
    return ref or None


def _event(message: Mapping[str, Any]) -> dict[str, Any]:
    """The Leadflow event a track or page message stands for (its time apart)."""
    kind = message.get("type")
    properties = dict(_object(message.get("properties")))
    raw: dict[str, Any] = {"id": message.get("messageId")}
    if kind == "track":
        name = message.get("event")
        mapped = EVENT_TYPES.get(name.strip().lower()) if isinstance(name, str) else None
        raw["type"] = mapped or name
        properties["event"] = name
    else:
        page = _object(_object(message.get("context")).get("page"))
        for key in ("url", "title", "referrer", "path"):
            value = properties.get(key) or page.get(key)
            if value is not None:
                properties[key] = value
        if message.get("name"):
            properties["name"] = message["name"]
        raw["type"] = "page_view"
    raw["properties"] = properties
    lead = _lead_ref(message)
    if lead is not None:
        raw["lead"] = lead
    visitor = _visitor(message.get("anonymousId"))
    if visitor is not None:
        raw["visitor_id"] = visitor
    return raw


def _event_errors(errors: Mapping[str, list[str]], *, kind: str, email_from_traits: bool) -> dict[str, list[str]]:
    """An event check's errors under the names the Segment message used."""
    named: dict[str, list[str]] = {}
    for name, reasons in errors.items():
        if name == "type" and kind == "track":
            shown = "event"
        elif name == "lead.email":
            shown = "traits.email" if email_from_traits else "userId"
        else:
            shown = SEGMENT_NAMES.get(name, name)
        named.setdefault(shown, []).extend(reasons)
    return named


def _employees(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_EMPLOYEES:
        raise ValueError(f"must be a whole number of employees from 0 to {MAX_EMPLOYEES}")
    return value


def _identity(message: Mapping[str, Any]) -> ingest.Identity | dict[str, list[str]]:
    """What an identify says about its lead, checked; or errors by field."""
    context_traits = _object(message.get("context")).get("traits")
    for place, value in (("traits", message.get("traits")), ("context.traits", context_traits)):
        if value and not isinstance(value, Mapping):
            return {place: ["must be an object"]}
        problem = checks.json_value_problem(value or {}, path=place, max_depth=checks.MAX_PROPERTIES_DEPTH)
        if problem:
            return {problem[0]: [problem[1]]}
    traits = _traits(message)
    lead = _lead_ref(message)
    if lead is None or "email" not in lead:
        return {"userId": ["identify needs an email: as userId or traits.email"]}
    try:
        email = checks.email_normalize(lead["email"])
    except ValueError as exc:
        return {_trait_name(message, "email") if "email" in traits else "userId": [str(exc)]}
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, value in traits.items():
        if name == "email":
            continue
        if name == "company":
            fields["company"] = str(value.get("name", "") if isinstance(value, Mapping) else value)[:200]
        elif name == "address" and isinstance(value, Mapping):
            fields.update({k: str(value[k])[:100] for k in ("city", "country") if value.get(k)})
        elif name in TRAIT_FIELDS:
            target = TRAIT_FIELDS[name]
            if target == "company_size":
                try:
                    fields[target] = _employees(value)
                except ValueError as exc:
                    return {_trait_name(message, name): [str(exc)]}
            else:
                fields[target] = str(value)[:100]
        else:
            attributes[name] = value
    if attributes:
        fields["attributes"] = attributes
    user_id = message.get("userId")
    external_id = None
    if isinstance(user_id, str) and "@" not in user_id and user_id.strip():
        try:
            external_id = checks.lead_id_check(user_id)
        except ValueError as exc:
            return {"userId": [str(exc)]}
    return ingest.Identity(
        email=email, fields=fields, external_id=external_id, visitor_key=_visitor(message.get("anonymousId"))
    )


@dataclass
class Outcome:
    """What became of a batch's messages."""

    identities: list[ingest.Identity] = field(default_factory=list)
    events: list[checks.Event] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ignored: int = 0

    def reject(self, index: int, message: object, errors: Mapping[str, list[str]]) -> None:
        message_id = message.get("messageId") if isinstance(message, Mapping) else None
        self.rejected.append({"index": index, "messageId": message_id, "errors": dict(errors)})


def _messages_check(messages: list[Any], batch: Mapping[str, Any], received: datetime) -> Outcome:
    """Each message checked (no database): what to write, and what is refused and why."""
    outcome = Outcome()
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            outcome.reject(index, message, {"message": ["must be an object"]})
            continue
        kind = message.get("type")
        if not isinstance(kind, str):
            outcome.reject(index, message, {"type": ["must be identify, track, page, screen, group or alias"]})
        elif kind in IGNORED_TYPES:
            outcome.ignored += 1
        elif kind == "identify":
            identity = _identity(message)
            if isinstance(identity, ingest.Identity):
                outcome.identities.append(identity)
            else:
                outcome.reject(index, message, identity)
        elif kind in {"track", "page"}:
            raw = _event(message)
            occurred, time_errors = _when(message, batch, received)
            if occurred is not None:
                raw["occurred_at"] = occurred.isoformat()
            checked = checks.event_check(raw, index=index, now=received)
            errors = {} if isinstance(checked, checks.Event) else dict(checked.errors)
            errors = _event_errors(errors, kind=str(kind), email_from_traits="email" in _traits(message))
            for name, reasons in time_errors.items():
                errors.setdefault(name, []).extend(reasons)
            if errors or not isinstance(checked, checks.Event):
                outcome.reject(index, message, errors)
            else:
                outcome.events.append(checked)
        else:
            outcome.reject(index, message, {"type": [f"unknown message type {kind!r}"]})
    return outcome


def _messages(body: Mapping[str, Any], only: str | None) -> list[Any]:
    """The body's messages, within Segment's limits, or :class:`Refusal` naming the limit."""
    if only is not None:
        return [{**body, "type": body.get("type", only)}]
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise Refusal(400, "batch: must be a list of messages", {"batch": ["must be a list of messages"]})
    limit = settings.LEADFLOW_MAX_BATCH_EVENTS
    if len(messages) > limit:
        reason = f"at most {limit} messages per batch, got {len(messages)}"
        raise Refusal(400, f"batch: {reason}", {"batch": [reason]})
    for index, message in enumerate(messages):
        size = len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())
        if size > bodies.SEGMENT_MAX_MESSAGE_BYTES:
            reason = f"the message is {size} bytes; at most {bodies.SEGMENT_MAX_MESSAGE_BYTES} bytes (32 KB) each"
            raise Refusal(400, f"batch[{index}]: {reason}", {f"batch[{index}]": [reason]})
    return messages


def _handle(request: HttpRequest, only: str | None, *, in_query: bool = False) -> JsonResponse:
    received = timezone.now()
    limit = bodies.SEGMENT_MAX_BATCH_BYTES if only is None else bodies.SEGMENT_MAX_MESSAGE_BYTES
    try:
        body = bodies.request_json(request, limit=limit)
    except bodies.BodyError as exc:
        return Refusal(exc.status, str(exc), {exc.field: [exc.reason]} if exc.field else None).response()
    try:
        if not isinstance(body, dict):
            raise Refusal(400, "the body must be a JSON object")
        api_key = write_key_verify(request_write_key(request, body, in_query=in_query))
        messages = _messages(body, only)
    except Refusal as exc:
        return exc.response()
    outcome = _messages_check(messages, body, received)
    if only is not None and outcome.rejected:
        errors = outcome.rejected[0]["errors"]
        detail = "; ".join(f"{name}: {', '.join(reasons)}" for name, reasons in errors.items())
        return Refusal(400, detail, errors).response()
    try:
        # All or nothing: a failure part-way leaves no trait written and no event stored.
        with transaction.atomic():
            ingest.leads_identify(outcome.identities, now=received)
            result = ingest.events_accept(outcome.events, source=f"segment:{api_key.prefix}", now=received)
    except IntegrityError:
        # Only a concurrent request can get here (an external id taken between the
        # look-up and the write): nothing was kept, and the SDKs send a 503 again.
        logger.warning("segment batch collided with a concurrent write; asked to retry", exc_info=True)
        answer = Refusal(503, "a concurrent request wrote the same leads; nothing was kept: send it again").response()
        answer["Retry-After"] = "1"
        return answer
    return JsonResponse(
        {
            "success": True,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "identified": len(outcome.identities),
            "ignored": outcome.ignored,
            "rejected": outcome.rejected,
        }
    )


@cross_site("POST")
def batch(request: HttpRequest) -> HttpResponse:
    return _handle(request, None)


@cross_site("POST")
def beacon_batch(request: HttpRequest) -> HttpResponse:
    """RudderStack's beacon: ``navigator.sendBeacon`` cannot send headers, so the key
    comes in the query string (kept out of the access log: project.logs)."""
    return _handle(request, None, in_query=True)


def _single(kind: str) -> Any:
    @cross_site("POST")
    def view(request: HttpRequest) -> HttpResponse:
        return _handle(request, kind)

    view.__name__ = kind
    return view


app_name = "segment"
urlpatterns = [
    path("batch", batch, name="batch"),
    path("b", batch, name="b"),
    *(
        route
        for kind in ("identify", "track", "page", "screen", "group", "alias")
        for route in (
            path(kind, _single(kind), name=kind),
            # The short paths Segment's browser SDK (analytics-next) sends to: /v1/i, /v1/t…
            path(kind[0], _single(kind), name=kind[0]),
        )
    ),
]
