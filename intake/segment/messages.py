"""Reading Segment messages (no database): each message checked into the identities
and events to write, or refused naming the field as Segment calls it; the body's
messages within Segment's limits."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils.translation import gettext

from intake import bodies, ingest, lead_refs
from intake import events as checks
from intake.segment.keys import Refusal
from scoring import accounts, event_types, lead_fields
from scoring.timestamps import timestamp_in_range

IGNORED_TYPES = {"screen", "alias"}
# The longest company id (the account's external id, the API's account_id), and name.
ACCOUNT_ID_MAX_LENGTH = ACCOUNT_NAME_MAX_LENGTH = 200
# Traits that set a lead field (scoring.lead_fields); "company" and "address" are read apart.
TRAIT_FIELDS = lead_fields.TRAITS
# The lead's company_size column (PostgreSQL integer) holds no more.
MAX_EMPLOYEES = 2_147_483_647
# An account's annual_revenue column holds 16 digits, 2 of them after the point.
MAX_REVENUE = Decimal("99999999999999.99")
# What a company's traits (a group call's; an identify's company object) set on its
# account; "address" is read apart (its country), "id" names the account; any other trait
# is a custom attribute of the account.
ACCOUNT_TRAITS = accounts.TRAITS
# The traits one identify or group call may send with a key kept on a server, as the API's
# attributes; with a key used in web pages, checks.MAX_FIELDS_FROM_A_PAGE, as a form.
MAX_TRAITS = checks.MAX_ATTRIBUTES
# Leadflow's event fields, as Segment calls them, for errors a sender can act on.
SEGMENT_NAMES = {
    "id": "messageId",
    "lead": "userId",
    "lead.external_id": "userId",
    "visitor_id": "anonymousId",
}
# How long before Leadflow receives it a key used in web pages' message may say it happened.
# The browser SDKs stamp each message when it is made and send it within seconds (a batch
# waits 5 s at most); a time further back is a queue sent again (offline, or retried after a
# 429 or a 5xx) or a date made up, which no one can tell apart: anyone can send with the key.
PAGE_TIME_WINDOW = timedelta(minutes=10)


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _when(
    message: Mapping[str, Any], batch: Mapping[str, Any], received: datetime, *, from_a_page: bool
) -> tuple[datetime | None, dict[str, list[str]]]:
    """When it happened, corrected for the device's clock skew; None for now. Or errors by
    Segment field. A message ``from_a_page`` (a key used in web pages) is held to the
    :data:`PAGE_TIME_WINDOW` before ``received``: an earlier time is moved to the window's
    start, so never after a message stamped later (a queue sent again after a while), a
    later one to ``received``; so a page can date nothing in the past, where
    reports, decay and replays read it, nor ahead."""
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
    if from_a_page:
        # Aware datetimes compare by their instant, so even year 1 at +14:00 does not overflow.
        return min(max(occurred, received - PAGE_TIME_WINDOW), received).astimezone(UTC), {}
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


def _snake_case(name: str) -> str:
    """A trait's name as a lead's field is named: lifecycleStage, Owner → lifecycle_stage, owner."""
    return _CAMEL_HUMP.sub("_", name).lower()


_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _trait_name(message: Mapping[str, Any], name: str) -> str:
    """Where the trait ``name`` (or a part of one: ``address.city``) was read from, for an
    error the sender can find."""
    top = name.partition(".")[0]
    return f"traits.{name}" if top in _object(message.get("traits")) else f"context.traits.{name}"


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


# What a sender sending a message again may change: when it sent it, with which key.
RESENT_FIELDS = frozenset({"messageId", "sentAt", "writeKey"})
CONTENT_ID_PREFIX = "content:sha256:"


def content_id(message: Mapping[str, Any]) -> str:
    """The id of a message sent without ``messageId``, which Segment's HTTP API documents as
    optional: the SHA-256 of its content, so the same message sent again (a retry, sent later
    or with another key) is still a repeat, and two messages differing in anything else, such
    as their ``timestamp``, are two. Two events alike in all, time included, are one."""
    content = {name: value for name, value in message.items() if name not in RESENT_FIELDS}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return CONTENT_ID_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _event(message: Mapping[str, Any], track_types: Mapping[str, str]) -> dict[str, Any]:
    """The Leadflow event a track or page message stands for (its time apart);
    ``track_types`` maps event names (:func:`event_types.name_key`) to types."""
    kind = message.get("type")
    properties = dict(_object(message.get("properties")))
    message_id = message.get("messageId")
    raw: dict[str, Any] = {"id": content_id(message) if message_id is None else message_id}
    if kind == "track":
        name = message.get("event")
        mapped = event_types.track_type(name, track_types) if isinstance(name, str) else None
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


def event_errors_named(message: Mapping[str, Any], errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The errors of the event ``message`` stands for, found once its leads were looked up
    (intake.ingest), under the names the message used."""
    kind = str(message.get("type"))
    return _event_errors(errors, kind=kind, email_from_traits="email" in _traits(message))


def identify_mismatch_errors(message: Mapping[str, Any]) -> dict[str, list[str]]:
    """The refusal of the identify ``message`` whose email and ``userId`` name two
    different leads (intake.ingest), under the names the message used."""
    names = {lead_refs.EMAIL_FIELD: _trait_name(message, "email"), lead_refs.EXTERNAL_ID_FIELD: "userId"}
    return {names[name]: reasons for name, reasons in lead_refs.mismatch().errors.items()}


def _employees(value: object) -> int:
    # Not every isdigit() is a digit int() reads ("²"), nor is a number of thousands of them.
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 10:
        with contextlib.suppress(ValueError):  # refused below, with the reason
            value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_EMPLOYEES:
        raise ValueError(f"must be a whole number of employees from 0 to {MAX_EMPLOYEES}")
    return value


def _revenue(value: object) -> Decimal:
    """An annual revenue: a number, or one written as text ("1200000.50"), to the cent."""
    amount = None
    if isinstance(value, str) and len(value.strip()) <= 40:
        with contextlib.suppress(InvalidOperation):  # refused below, with the reason
            amount = Decimal(value.strip())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        amount = Decimal(str(value))
    if amount is not None and amount.is_finite() and 0 <= amount <= MAX_REVENUE:
        amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if amount <= MAX_REVENUE:  # 99999999999999.995 rounds up past it
            return amount
    raise ValueError(gettext("must be an amount from 0 to {max}").format(max=MAX_REVENUE))


def _company(traits: Mapping[str, Any]) -> dict[str, Any]:
    """The account fields a company's traits set (:data:`ACCOUNT_TRAITS`, the rest as its
    custom attributes); a trait sent empty (null) leaves its field as it is, and so does a
    blank name. A value its field cannot hold (employees as a range, "51-200"; a revenue
    that is no number) costs nothing else the message says: it is kept as the account's
    custom attribute of the trait's name, as the sender wrote it (an address's country in
    an "address" object), until a later value fills the field
    (scoring.accounts.KEPT_AS). The traits were checked for what no attribute may hold
    (json_value_problem)."""
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, value in traits.items():
        if name == "id":  # the company's id: names the account (_account_id)
            continue
        if name == "address" and isinstance(value, Mapping):
            if value.get("country") is not None:
                try:
                    fields["country"] = _text_trait(value["country"], 100)
                except ValueError:
                    attributes["address"] = {"country": value["country"]}
            continue
        target = ACCOUNT_TRAITS.get(name)
        if target is None:
            attributes[name] = value
            continue
        try:
            if value is None:
                continue
            if target == "company_size":
                fields[target] = _employees(value)
            elif target == "annual_revenue":
                fields[target] = _revenue(value)
            elif target == "name":
                if text := _text_trait(value, ACCOUNT_NAME_MAX_LENGTH).strip():
                    fields[target] = text
            else:
                fields[target] = _text_trait(value, 100)
        except ValueError:
            attributes[name] = value
    if attributes:
        fields["attributes"] = attributes
    return fields


def _account_id(message: Mapping[str, Any], places: tuple[str, ...]) -> str | dict[str, list[str]] | None:
    """The company id the message gives at the first of ``places`` holding one (dotted
    paths: ``groupId``, ``context.groupId``, ``traits.company.id``), checked; or the error
    naming that place."""
    for place in places:
        value: Any = message
        for part in place.split("."):
            value = _object(value).get(part)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            return {place: ["must be the company's id: text or a whole number"]}
        text = str(value).strip()
        if not text or len(text) > ACCOUNT_ID_MAX_LENGTH:
            return {place: [f"must be the company's id, 1 to {ACCOUNT_ID_MAX_LENGTH} characters"]}
        return text
    return None


def _group(message: Mapping[str, Any], *, companies: bool) -> ingest.Identity | dict[str, list[str]]:
    """A group call: the person (``userId`` as an email, or the email RudderStack puts in
    ``context.traits``) belongs to the company ``groupId``. The group's own ``traits``
    describe the company, not the person: they are its account's (:func:`_company`), read
    only if ``companies`` (the key may say what a company is)."""
    traits = message.get("traits")
    if traits and not isinstance(traits, Mapping):
        return {"traits": ["must be an object"]}
    problem = checks.json_value_problem(traits or {}, path="traits", max_depth=checks.MAX_PROPERTIES_DEPTH)
    if problem:
        return {problem[0]: [problem[1]]}
    if len(traits := traits or {}) > MAX_TRAITS:
        return {"traits": [f"at most {MAX_TRAITS} traits per message, got {len(traits)}"]}
    company = _company(traits or {}) if companies else {}
    account_id = _account_id(message, ("groupId",))
    if isinstance(account_id, dict):
        return account_id
    if account_id is None:
        return {"groupId": ["group needs the company's id"]}
    user_id = message.get("userId")
    email = _object(_object(message.get("context")).get("traits")).get("email")
    if email is None and isinstance(user_id, str) and "@" in user_id:
        email = user_id
    if email is None:
        return {"userId": ["group needs the person's email: as userId or context.traits.email"]}
    try:
        email = checks.email_normalize(email)
    except ValueError as exc:
        return {"userId" if email == user_id else "context.traits.email": [str(exc)]}
    return ingest.Identity(
        email=email, account_id=account_id, visitor_key=_visitor(message.get("anonymousId")), company=company
    )


def _text_trait(value: object, limit: int) -> str:
    """A trait kept in a text field of the lead: text, or a number written as text (a postal
    code, a phone); cut to ``limit`` characters. Anything else (an object, a list, true or
    false) is refused rather than stored as its Python spelling."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be text")
    return str(value)[:limit]


def _traits_too_many(message: Mapping[str, Any], *, from_a_page: bool) -> dict[str, list[str]]:
    """Errors of an identify that sends more traits than its key may, or (from a page) a
    trait longer than a form's field may be; empty when it sends no more."""
    traits = {name: value for name, value in _traits(message).items() if name != "email"}
    limit = checks.MAX_FIELDS_FROM_A_PAGE if from_a_page else MAX_TRAITS
    if len(traits) > limit:
        key = " with a key used in web pages" if from_a_page else ""
        return {"traits": [f"at most {limit} traits per message{key}, got {len(traits)}"]}
    for name, value in traits.items() if from_a_page else ():
        size = len(json.dumps(value, ensure_ascii=False))
        if size > checks.MAX_VALUE_FROM_A_PAGE:
            reason = f"at most {checks.MAX_VALUE_FROM_A_PAGE} characters (written as JSON), got {size}"
            return {_trait_name(message, name): [reason]}
    return {}


def _identity(message: Mapping[str, Any], *, companies: bool) -> ingest.Identity | dict[str, list[str]]:
    """What an identify says about its lead, checked; or errors by field. Its company
    object describes the lead's account (:func:`_company`) only if ``companies`` (a key
    kept on a server: one used in web pages sends fewer and shorter traits)."""
    context_traits = _object(message.get("context")).get("traits")
    for place, value in (("traits", message.get("traits")), ("context.traits", context_traits)):
        if value and not isinstance(value, Mapping):
            return {place: ["must be an object"]}
        problem = checks.json_value_problem(value or {}, path=place, max_depth=checks.MAX_PROPERTIES_DEPTH)
        if problem:
            return {problem[0]: [problem[1]]}
    if too_many := _traits_too_many(message, from_a_page=not companies):
        return too_many
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
    company: dict[str, Any] = {}  # what the company object says of the person's account
    # A trait its field cannot hold (employees as "51-200", as Segment's spec types it; a
    # title that is a list) is kept as the lead's custom attribute of the trait's name, as
    # written (a part of the address in an "address" object), and the rest of the message
    # is still written; a later value of the field drops it (lead_fields.KEPT_AS).
    for name, value in traits.items():
        if name == "email":
            continue
        if name == "company":
            if isinstance(value, Mapping):
                if companies:
                    company = _company(value)
                value = value.get("name")
            if value is not None:
                try:
                    fields["company"] = _text_trait(value, 200)
                except ValueError:
                    attributes["company"] = value
        elif name == "address" and isinstance(value, Mapping):
            for part in ("city", "country"):
                if value.get(part) is not None:
                    try:
                        fields[part] = _text_trait(value[part], 100)
                    except ValueError:
                        attributes.setdefault("address", {})[part] = value[part]
        elif name in TRAIT_FIELDS:
            target = TRAIT_FIELDS[name]
            if value is None:  # a cached trait sent again empty: the field stays as it is
                continue
            try:
                fields[target] = _employees(value) if target == "company_size" else _text_trait(value, 100)
            except ValueError:
                attributes[name] = value
        elif _snake_case(name) in lead_fields.RESERVED_ATTRIBUTES:
            # Neither its field (only the company or Leadflow sets it) nor an attribute
            # standing beside it under the same name (lifecycleStage as lifecycle_stage):
            # left out, the rest of the identify kept. Refusing it lost every trait, as
            # Segment's senders never send a message answered 400 again.
            continue
        else:
            attributes[name] = value
    if attributes:
        fields["attributes"] = attributes
    # Segment's SDKs send the person's company as context.groupId once group() was called,
    # and its reserved company trait may carry the company's id.
    account_id = _account_id(message, ("context.groupId", "traits.company.id", "context.traits.company.id"))
    if isinstance(account_id, dict):
        return account_id
    user_id = message.get("userId")
    external_id = None
    if isinstance(user_id, str) and "@" not in user_id and user_id.strip():
        try:
            external_id = checks.lead_id_check(user_id)
        except ValueError as exc:
            return {"userId": [str(exc)]}
    return ingest.Identity(
        email=email,
        fields=fields,
        external_id=external_id,
        visitor_key=_visitor(message.get("anonymousId")),
        account_id=account_id,
        company=company,
    )


@dataclass
class Outcome:
    """What became of a batch's messages."""

    identities: list[ingest.Identity] = field(default_factory=list)
    identity_indexes: list[int] = field(default_factory=list)  # each identity's message
    events: list[checks.Event] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ignored: int = 0

    def reject(self, index: int, message: object, errors: Mapping[str, list[str]]) -> None:
        message_id = message.get("messageId") if isinstance(message, Mapping) else None
        self.rejected.append({"index": index, "messageId": message_id, "errors": dict(errors)})


def messages_check(
    messages: list[Any],
    batch: Mapping[str, Any],
    received: datetime,
    track_types: Mapping[str, str],
    *,
    companies: bool = True,
    from_a_page: bool = False,
) -> Outcome:
    """Each message checked (no database): what to write, and what is refused and why.
    With ``companies`` false (a key used in web pages, which may not say what a company
    is) the company traits are not read at all; ``from_a_page`` (a key used in web pages,
    which anyone can send with) dates events no earlier than a short while before
    ``received`` (:func:`_when`)."""
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
        elif kind in {"identify", "group"}:
            read = _identity if kind == "identify" else _group
            identity = read(message, companies=companies)
            if isinstance(identity, ingest.Identity):
                outcome.identities.append(identity)
                outcome.identity_indexes.append(index)
            else:
                outcome.reject(index, message, identity)
        elif kind in {"track", "page"}:
            raw = _event(message, track_types)
            occurred, time_errors = _when(message, batch, received, from_a_page=from_a_page)
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


def body_messages(body: Mapping[str, Any], only: str | None) -> list[Any]:
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
