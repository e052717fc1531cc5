"""Segment-compatible HTTP Tracking API: ``POST /v1/identify``, ``/v1/track``,
``/v1/page`` and ``/v1/batch``, so the analytics SDKs a team already uses can
send to Leadflow by changing only their host.

- The write key is a Leadflow API key, sent as HTTP Basic user name (what the
  SDKs do), as ``writeKey`` in the body, or as a Bearer token.
- Bodies may be gzip-encoded (``Content-Encoding: gzip``); the decompressed
  size is capped like any API body.
- ``messageId`` is the idempotency key; ``userId`` names the lead (an email,
  or else its external id; ``traits.email`` wins), ``anonymousId`` the
  visitor. ``identify`` writes traits to the lead (known ones to its fields,
  the rest to its custom attributes) and, with an ``anonymousId``, identifies
  the visitor: its page views move to the lead. ``track`` records an
  interaction whose type comes from the event name (``"Email Opened"``,
  ``"Form Submitted"``… or a Leadflow type such as ``form_submit``);
  ``page`` records a page view. ``screen``, ``group`` and ``alias`` messages
  are accepted and ignored (counted under ``ignored``).
- Time: ``timestamp`` corrected for the device's clock skew with ``sentAt``
  (occurred = timestamp + (received - sentAt)), as Segment does.

Answers ``200 {"success": true}`` like Segment, plus Leadflow's counts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from scoring import events as checks
from scoring import ingest, services
from scoring.api_keys import InvalidKey, api_key_verify
from scoring.models import ApiKey, Lead, Visitor

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
TRAIT_FIELDS = {
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "title": "title",
    "department": "department",
    "industry": "industry",
    "employees": "company_size",
    "country": "country",
    "city": "city",
}


class BadRequest(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _body(request: HttpRequest) -> dict[str, Any]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 5 * 1024 * 1024
    raw = request.body
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise BadRequest(400, "the body is not valid gzip") from None
        if len(raw) > limit:
            raise BadRequest(413, f"the decompressed body is over the limit of {limit} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "the body must be a JSON object")
    return data


def _api_key(request: HttpRequest, body: dict[str, Any]) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    key = ""
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(credentials).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(401, "the Basic credentials are not valid base64") from None
    elif scheme.lower() == "bearer":
        key = credentials
    elif isinstance(body.get("writeKey"), str):
        key = body["writeKey"]
    if not key:
        raise BadRequest(401, "send the write key (a Leadflow API key) by HTTP Basic auth or as writeKey")
    try:
        return api_key_verify(key)
    except InvalidKey as exc:
        raise BadRequest(401, str(exc)) from None


def _when(message: dict[str, Any], batch: dict[str, Any], received: datetime) -> str | None:
    """When it happened, corrected for the device's clock skew (ISO 8601), or None for now."""
    stamp = message.get("timestamp") or message.get("originalTimestamp")
    if stamp is None:
        return None
    sent = message.get("sentAt") or batch.get("sentAt")
    try:
        occurred = checks.timestamp_parse(stamp)
        if sent is not None:
            occurred += received - checks.timestamp_parse(sent)
    except ValueError:
        return str(stamp)  # the event check reports it, by field
    return occurred.isoformat()


def _visitor(anonymous_id: object) -> str | None:
    if anonymous_id is None or anonymous_id == "":
        return None
    text = str(anonymous_id)
    if checks.VISITOR_ID.match(text):
        return text
    return "h-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _lead_ref(message: dict[str, Any]) -> dict[str, Any] | None:
    traits = message.get("traits") or (message.get("context") or {}).get("traits") or {}
    user_id = message.get("userId")
    email = traits.get("email") if isinstance(traits, dict) else None
    if isinstance(user_id, str) and "@" in user_id and email is None:
        return {"email": user_id}
    ref: dict[str, Any] = {}
    if email is not None:
        ref["email"] = email
    if user_id not in (None, ""):
        ref["external_id"] = user_id
    return ref or None


def _event(message: dict[str, Any], batch: dict[str, Any], received: datetime) -> dict[str, Any]:
    """The Leadflow event a track/page/identify message stands for (identify: no type)."""
    kind = message.get("type")
    properties = dict(message.get("properties") or {}) if isinstance(message.get("properties"), dict) else {}
    raw: dict[str, Any] = {"id": message.get("messageId")}
    if kind == "track":
        name = message.get("event")
        mapped = EVENT_TYPES.get(name.strip().lower()) if isinstance(name, str) else None
        raw["type"] = mapped or name
        properties["event"] = name
    elif kind == "page":
        page = (message.get("context") or {}).get("page") or {}
        for field in ("url", "title", "referrer", "path"):
            value = properties.get(field) or (page.get(field) if isinstance(page, dict) else None)
            if value is not None:
                properties[field] = value
        if message.get("name"):
            properties["name"] = message["name"]
        raw["type"] = "page_view"
    raw["properties"] = properties
    occurred = _when(message, batch, received)
    if occurred is not None:
        raw["occurred_at"] = occurred
    lead = _lead_ref(message)
    if lead is not None:
        raw["lead"] = lead
    visitor = _visitor(message.get("anonymousId"))
    if visitor is not None:
        raw["visitor_id"] = visitor
    return raw


def _identify(message: dict[str, Any]) -> dict[str, list[str]]:
    """Write an identify's traits to its lead; errors by field, if any."""
    traits = message.get("traits") or {}
    if not isinstance(traits, dict):
        return {"traits": ["must be an object"]}
    lead = _lead_ref(message)
    if lead is None or "email" not in lead:
        return {"userId": ["identify needs an email: as userId or traits.email"]}
    try:
        email = checks.email_normalize(lead["email"])
    except ValueError as exc:
        return {"traits.email": [str(exc)]}
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, value in traits.items():
        if name == "email" or checks.has_nul(value) or checks.has_nul(name):
            continue
        if name == "company":
            fields["company"] = str(value.get("name", "") if isinstance(value, dict) else value)[:200]
        elif name == "address" and isinstance(value, dict):
            fields.update({k: str(value[k])[:100] for k in ("city", "country") if value.get(k)})
        elif name in TRAIT_FIELDS:
            target = TRAIT_FIELDS[name]
            if target == "company_size":
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    fields[target] = value
            else:
                fields[target] = str(value)[:100]
        else:
            attributes[name] = value
    if attributes:
        fields["attributes"] = attributes
    user_id = message.get("userId")
    # The external id is unique: keep it where it already is.
    if (
        isinstance(user_id, str)
        and "@" not in user_id
        and not checks.has_nul(user_id)
        and not Lead.objects.filter(external_id=user_id[:200]).exclude(email=email).exists()
    ):
        fields["external_id"] = user_id[:200]
    with transaction.atomic():
        lead_obj, _ = services.lead_upsert(email=email, fields=fields)
        visitor_id = _visitor(message.get("anonymousId"))
        if visitor_id is not None:
            Visitor.objects.bulk_create([Visitor(key=visitor_id)], ignore_conflicts=True)
            visitor = Visitor.objects.select_for_update().get(key=visitor_id)
            if visitor.lead_id is None:
                ingest.visitor_identify(visitor=visitor, lead_id=lead_obj.pk, now=timezone.now())
    return {}


def _handle(request: HttpRequest, only: str | None) -> JsonResponse:
    received = timezone.now()
    try:
        body = _body(request)
        api_key = _api_key(request, body)
    except BadRequest as exc:
        return JsonResponse({"success": False, "detail": exc.detail}, status=exc.status)
    if only is None:
        messages = body.get("batch")
        if not isinstance(messages, list):
            return JsonResponse({"success": False, "detail": "batch: must be a list of messages"}, status=400)
    else:
        messages = [{**body, "type": body.get("type", only)}]
    rejected: list[dict[str, Any]] = []
    events = []
    ignored = identified = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            rejected.append({"index": index, "messageId": None, "errors": {"message": ["must be an object"]}})
            continue
        kind = message.get("type")
        if kind in IGNORED_TYPES:
            ignored += 1
            continue
        if kind == "identify":
            errors = _identify(message)
            if errors:
                rejected.append({"index": index, "messageId": message.get("messageId"), "errors": errors})
            else:
                identified += 1
            continue
        if kind not in {"track", "page"}:
            errors = {"type": [f"unknown message type {kind!r}"]}
            rejected.append({"index": index, "messageId": message.get("messageId"), "errors": errors})
            continue
        raw = _event(message, body, received)
        checked = checks.event_check(raw, index=index, now=received)
        if isinstance(checked, checks.Rejection):
            errors = {
                ("event" if name == "type" and kind == "track" else name): e for name, e in checked.errors.items()
            }
            errors = {("messageId" if name == "id" else name): e for name, e in errors.items()}
            rejected.append({"index": index, "messageId": message.get("messageId"), "errors": errors})
        else:
            events.append(checked)
    result = ingest.events_accept(events, source=f"segment:{api_key.prefix}")
    return JsonResponse(
        {
            "success": True,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "identified": identified,
            "ignored": ignored,
            "rejected": rejected,
        }
    )


@csrf_exempt
@require_POST
def batch(request: HttpRequest) -> JsonResponse:
    return _handle(request, None)


def _single(kind: str) -> Any:
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> JsonResponse:
        return _handle(request, kind)

    view.__name__ = kind
    return view


app_name = "segment"
urlpatterns = [
    path("batch", batch, name="batch"),
    path("identify", _single("identify"), name="identify"),
    path("track", _single("track"), name="track"),
    path("page", _single("page"), name="page"),
]
