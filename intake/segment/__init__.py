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
- ``messageId`` is the idempotency key, optional as in Segment's API (a message
  without one is kept under its content's: messages.content_id); ``userId`` names the lead (an email,
  or else its external id; ``traits.email`` wins), ``anonymousId`` the
  visitor. Traits are read from ``traits`` and from ``context.traits`` (where
  RudderStack's SDKs put them; ``traits`` wins). ``identify`` writes traits to the lead (known ones to its fields,
  the rest to its custom attributes; one its field cannot hold, such as ``employees``
  as ``"51-200"``, is kept as the custom attribute of its name) and, with an ``anonymousId``, identifies
  the visitor: its page views move to the lead; one whose ``traits.email`` and
  ``userId`` name two different leads is refused naming both, as a track's is. ``track`` records an
  interaction whose type comes from the event name: the mapping kept in the
  admin and the model file, else Segment's names for the built-in types
  (``"Email Opened"``, ``"Form Submitted"``…), else the name made into a type
  name (``"Trial Started"`` → ``trial_started``; see scoring.event_types);
  ``page`` records a page view. ``group`` puts the person (``userId`` as an
  email) in the account of the company ``groupId``, and an identify's
  ``context.groupId`` or ``traits.company.id`` does the same (counted under
  ``identified``). With a key kept on a server, the group's traits (``name``,
  ``industry``, ``employees``, ``annualRevenue``, ``address.country``, the rest as
  custom attributes) are written to that account, as an identify's ``traits.company``
  object is to the person's account, and the account's fit follows. ``screen`` and
  ``alias`` messages are accepted and ignored (counted under ``ignored``).
- Time: ``timestamp`` corrected for the device's clock skew with ``sentAt``
  (occurred = timestamp + (received - sentAt)), as Segment does; a time
  before 1970 or more than a day ahead, as sent or once corrected, is refused
  naming the field it came from. A key used in web pages' time is held to the
  10 minutes before the message was received (earlier is moved to their start,
  later to the receipt): anyone can send with it.
- Segment's own limits: a batch of at most 500 KB and 1,000 messages, a
  message of at most 32 KB (a larger body is refused whole, changing nothing).
- The write key needs the scope ``events:write`` (403 otherwise).
- A batch is one transaction: it answers each message's fate (counts, and
  the rejected ones by index and field) or, failing, changes nothing.

Answers ``200 {"success": true}`` like Segment, plus Leadflow's counts. A
single-message endpoint whose message is refused answers 400 with its errors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone

from intake import bodies, ingest, lead_refs
from intake import events as checks
from intake.cors import cross_site
from intake.segment.keys import Refusal, request_write_key, write_key_verify
from intake.segment.messages import (
    Outcome,
    body_messages,
    event_errors_named,
    identify_mismatch_errors,
    messages_check,
)
from intake.tracking.limits import client_network, lead_counted_as, longest_window, rate_limited, too_many
from scoring import selectors
from scoring.models import Interaction, Visitor

logger = logging.getLogger(__name__)


def _message_refused(errors: Mapping[str, list[str]]) -> JsonResponse:
    """The answer of a single-message endpoint whose message is refused."""
    detail = "; ".join(f"{name}: {', '.join(reasons)}" for name, reasons in errors.items())
    return Refusal(400, detail, dict(errors)).response()


def _too_many(wait: int) -> JsonResponse:
    """429 with ``Retry-After``: the SDKs send again then."""
    return too_many(Refusal(429, f"too many requests from web pages; send again in {wait} s").response(), wait)


# A key used in web pages sends what a page's SDK batches (a few messages); a batch of
# more is no page's, and each message is counted against the address's limit.
PUBLIC_MAX_MESSAGES = 100


def _address_limited(request: HttpRequest, messages: list[Any]) -> int | None:
    """Count a key used in web pages' messages against its address's limit: the wait
    when over it, else None."""
    if len(messages) > PUBLIC_MAX_MESSAGES:
        reason = f"at most {PUBLIC_MAX_MESSAGES} messages per batch with a key used in web pages, got {len(messages)}"
        raise Refusal(400, f"batch: {reason}", {"batch": [reason]})
    for _ in messages:
        wait = rate_limited(request, endpoint="browser", kind="ip", value=client_network(request))
        if wait is not None:
            return wait
    return None


def _visitors_counted_as(outcome: Outcome) -> tuple[dict[str, str], dict[str, str]]:
    """What the events naming only a visitor are counted as: the lead the visitor is tied to
    (its email, else its external id, as the limit counts a lead named so), or is tied to by
    this batch (an identify, or an event naming the lead and the visitor: the visitor's events
    move to that lead), else the visitor itself, whose events move to the lead it identifies
    as later. And the visitors this batch ties to a lead, with the lead they are counted as."""
    tying: dict[str, str] = {}
    for identity in outcome.identities:
        if identity.visitor_key:
            tying.setdefault(identity.visitor_key, identity.email)
    for event in outcome.events:
        if event.visitor_id and (event.email or event.external_id):
            tying.setdefault(event.visitor_id, lead_counted_as(event.email, event.external_id))
    alone = {
        event.visitor_id for event in outcome.events if event.visitor_id and not (event.email or event.external_id)
    }
    keys = alone | set(tying)
    if not keys:
        return {}, {}
    tied = Visitor.objects.filter(key__in=keys, lead__isnull=False).values_list(
        "key", "lead__email", "lead__external_id"
    )
    counted = {key: lead_counted_as(email, external_id) for key, email, external_id in tied}
    tied_here = {key: lead for key, lead in tying.items() if key not in counted}
    return {key: counted.get(key) or tied_here.get(key) or f"visitor:{key}" for key in alone}, tied_here


def _interactions_moving(visitors: set[str]) -> dict[str, int]:
    """How many interactions of each of these visitors, tied to no lead yet, move to the lead
    a message ties it to: those received in the longest window the lead's limit counts in."""
    window = longest_window(endpoint="browser", kind="lead")
    if not visitors or not window:
        return {}
    since = timezone.now() - timedelta(seconds=window)
    rows = (
        Interaction.objects.filter(visitor__key__in=visitors, lead__isnull=True, received_at__gte=since)
        .values("visitor__key")
        .annotate(n=Count("pk"))
        .values_list("visitor__key", "n")
    )
    return dict(rows)


def _leads_limited(request: HttpRequest, messages: list[Any], outcome: Outcome) -> tuple[int, int | None]:
    """Count a key used in web pages' checked messages against their lead's limit, by the
    lead's email or else its external id as the checks read them, and a message naming only
    a visitor by the visitor's lead (:func:`_visitors_counted_as`): one over it is taken out
    of ``outcome`` and refused there, naming the field that named the lead. A message tying a
    visitor to a lead counts, beside itself, the visitor's interactions that move to the lead
    with it (else a visitor id per handful of messages, each identified as the same lead in
    turn, took any number to it); over the limit it is refused naming ``anonymousId``.
    Returns how many were refused and the longest wait."""
    refused, longest = 0, None
    visitors, tied_here = _visitors_counted_as(outcome)
    moving = _interactions_moving(set(tied_here))

    def over(index: int, field: str, value: str, visitor: str | None = None) -> bool:
        nonlocal refused, longest
        wait = rate_limited(request, endpoint="browser", kind="lead", value=value)
        if wait is None and visitor is not None and tied_here.get(visitor) == value:
            for _ in range(moving.pop(visitor, 0)):
                wait = rate_limited(request, endpoint="browser", kind="lead", value=value)
                if wait is not None:
                    field = "visitor_id"
                    break
        if wait is None:
            return False
        reason = f"too many messages for this lead from web pages; send again in {wait} s"
        outcome.reject(index, messages[index], event_errors_named(messages[index], {field: [reason]}))
        refused, longest = refused + 1, max(longest or 0, wait)
        return True

    kept = [
        (identity, index)
        for identity, index in zip(outcome.identities, outcome.identity_indexes, strict=True)
        if not over(index, lead_refs.EMAIL_FIELD, identity.email, identity.visitor_key)
    ]
    outcome.identities = [identity for identity, _ in kept]
    outcome.identity_indexes = [index for _, index in kept]
    outcome.events = [
        event
        for event in outcome.events
        if not (
            over(
                event.index,
                lead_refs.EMAIL_FIELD if event.email else lead_refs.EXTERNAL_ID_FIELD,
                lead_counted_as(event.email, event.external_id),
                event.visitor_id,
            )
            if event.email or event.external_id
            else event.visitor_id and over(event.index, "visitor_id", visitors[event.visitor_id])
        )
    ]
    return refused, longest


GROUP_FROM_A_PAGE = (
    "a key used in web pages puts no one in a company's account (anyone can read it from the page): "
    "send group calls with a key kept on a server"
)
UNKNOWN_TYPE_FROM_A_PAGE = (
    "a key used in web pages sends only event types Leadflow knows (built in, declared in the model "
    "file or the admin, or sent before with a key kept on a server); {type!r} is not one of them"
)
UNKNOWN_CAMPAIGN_FROM_A_PAGE = (
    "a key used in web pages names only campaigns the model defines (anyone can send with it, and a campaign "
    "moves the lead's last touch); {campaign!r} is not one the model defines"
)
RESERVED_FROM_A_PAGE = (
    "reserved: Leadflow sets it (on a nurture email's opens and clicks, a tracked form's posts) or a key kept "
    "on a server does, never a key used in web pages (anyone can send with it); give the property another name"
)
# The room a key used in web pages' messageIds are kept in, apart from the ids servers send.
PAGE_ID_PREFIX = Interaction.FROM_A_PAGE + "{key}:"


def page_event_id(message_id: str, *, key_prefix: str) -> str:
    """The id a key used in web pages' message is stored under: its ``messageId`` in a room
    of that key's own, so a page cannot take an id a server will send (``order-1042``) and
    have the server's event dropped as a repeat. An id too long for the column with the
    room's name before it is kept as its SHA-256: a retry still finds it."""
    room = PAGE_ID_PREFIX.format(key=key_prefix)
    if len(room) + len(message_id) > checks.MAX_ID_LENGTH:
        return f"{room}sha256:{hashlib.sha256(message_id.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return room + message_id


UNKNOWN_ID_FROM_A_PAGE = (
    "no lead has this id, and a key used in web pages makes no lead from an id alone: "
    "name the person by email (traits.email) or send the visitor's anonymousId"
)


def _from_a_page(messages: list[Any], outcome: Outcome, *, key_prefix: str) -> None:
    """Hold a key used in web pages to what a page may say, anyone being able to read the
    key there: who people are by email, what they did, and what Leadflow does not know of
    them yet (their traits fill only the fields a lead has empty: ``fill_only``). It gives
    no lead an external id and puts no one in a company's account, those being other
    systems' ids (an identify's are left out; a group call is refused), nor says what a
    company is (an identify's company object sets only the lead's company); it sends only the
    event types Leadflow knows; it sets none of the properties Leadflow sets
    (:data:`intake.events.RESERVED_PROPERTIES`, which a tracked form refuses too) but for
    the campaigns the model defines; and an event naming a person by an id no lead has counts
    for its visitor, or is refused without one. Its events' ids are its own
    (:func:`page_event_id`). Refusals go to ``outcome``."""
    kept = []
    for identity, index in zip(outcome.identities, outcome.identity_indexes, strict=True):
        if messages[index].get("type") == "group":
            outcome.reject(index, messages[index], {"groupId": [GROUP_FROM_A_PAGE]})
        else:
            kept.append((dataclasses.replace(identity, external_id=None, account_id=None, company={}), index))
    outcome.identities = [identity for identity, _ in kept]
    outcome.identity_indexes = [index for _, index in kept]
    if not outcome.events:
        return
    known = selectors.event_types_known()
    campaigns = selectors.campaign_keys_defined(
        key for e in outcome.events if isinstance(key := e.properties.get("campaign"), str)
    )
    ids = {e.external_id for e in outcome.events if e.external_id and not e.email}
    held = lead_refs.lead_refs_find(emails=(), external_ids=ids).by_external_id if ids else {}
    events = []
    for event in outcome.events:
        message = messages[event.index]
        if event.type not in known:
            reason = UNKNOWN_TYPE_FROM_A_PAGE.format(type=event.type)
            outcome.reject(event.index, message, event_errors_named(message, {"type": [reason]}))
            continue
        reserved: dict[str, list[str]] = {}
        for name in sorted(checks.RESERVED_PROPERTIES.intersection(event.properties)):
            value = event.properties[name]
            if name != "campaign":
                reserved[f"properties.{name}"] = [RESERVED_FROM_A_PAGE]
            elif not (isinstance(value, str) and value in campaigns):
                reserved["properties.campaign"] = [UNKNOWN_CAMPAIGN_FROM_A_PAGE.format(campaign=value)]
        if reserved:
            outcome.reject(event.index, message, event_errors_named(message, reserved))
            continue
        if event.external_id and (event.email or event.external_id not in held):
            if not (event.email or event.visitor_id):
                errors = {lead_refs.EXTERNAL_ID_FIELD: [UNKNOWN_ID_FROM_A_PAGE]}
                outcome.reject(event.index, message, event_errors_named(message, errors))
                continue
            event = dataclasses.replace(event, external_id=None)
        events.append(dataclasses.replace(event, id=page_event_id(event.id, key_prefix=key_prefix)))
    outcome.events = events


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
        messages = body_messages(body, only)
    except Refusal as exc:
        return exc.response()
    if api_key.public:
        try:
            wait = _address_limited(request, messages)
        except Refusal as exc:
            return exc.response()
        if wait is not None:
            return _too_many(wait)
    tracks = any(isinstance(m, Mapping) and m.get("type") == "track" for m in messages)
    mapping = selectors.segment_event_mapping() if tracks else {}
    outcome = messages_check(
        messages, body, received, mapping, companies=not api_key.public, from_a_page=api_key.public
    )
    if only is not None and outcome.rejected:
        return _message_refused(outcome.rejected[0]["errors"])
    if api_key.public:
        _from_a_page(messages, outcome, key_prefix=api_key.prefix)
        if only is not None and outcome.rejected:
            return _message_refused(outcome.rejected[0]["errors"])
        # Over its lead's limit, a message is refused in the batch; a message alone, or a
        # batch of them all, is answered 429 for the SDK to send again later.
        refused, wait = _leads_limited(request, messages, outcome)
        if wait is not None and (only is not None or refused == len(messages)):
            return _too_many(wait)
    try:
        # All or nothing: a failure part-way leaves no trait written and no event stored.
        with transaction.atomic():
            identified = ingest.leads_identify(outcome.identities, now=received, fill_only=api_key.public)
            result = ingest.events_accept(outcome.events, source=f"segment:{api_key.prefix}", now=received)
            # Last, once every lead row the batch takes is taken: then the accounts' rows.
            # A key used in web pages writes its leads' empty fields only, and describes no
            # company: its leads' fields fill no account either.
            ingest.accounts_describe(identified, now=received, from_leads=not api_key.public)
    except IntegrityError:
        # Only a concurrent request can get here (an external id taken between the
        # look-up and the write): nothing was kept, and the SDKs send a 503 again.
        logger.warning("segment batch collided with a concurrent write; asked to retry", exc_info=True)
        answer = Refusal(503, "a concurrent request wrote the same leads; nothing was kept: send it again").response()
        answer["Retry-After"] = "1"
        return answer
    if identified.attributes_dropped:
        logger.warning(
            "segment: a key used in web pages (%s) sent %d custom attribute names Leadflow does not know,"
            " past the %d it may bring (LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES): left out: %s",
            api_key.prefix,
            len(identified.attributes_dropped),
            settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES,
            ", ".join(repr(name) for name in identified.attributes_dropped[:10]),
        )
    for position in identified.refused:
        index = outcome.identity_indexes[position]
        outcome.reject(index, messages[index], identify_mismatch_errors(messages[index]))
    for rejection in result.rejected:
        message = messages[rejection.index]
        outcome.reject(rejection.index, message, event_errors_named(message, rejection.errors))
    if only is not None and outcome.rejected:  # its one event refused: nothing was stored
        return _message_refused(outcome.rejected[0]["errors"])
    outcome.rejected.sort(key=lambda rejected: rejected["index"])
    return JsonResponse(
        {
            "success": True,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "identified": len(outcome.identities) - len(identified.refused),
            "ignored": outcome.ignored,
            # The custom attributes' names a key used in web pages may not bring: left out.
            "attributes_dropped": len(identified.attributes_dropped),
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
