"""JSON request bodies that no parser chokes on, checked before anything else
costs: the middleware here runs before the API key is looked up and before
any view, for the API (``/api/v1/``), the Segment-compatible endpoints
(``/v1/``, ``/beacon/v1/batch``) and the page beacon (``/t/p``).

A body is refused whole (4xx, naming the field and the reason) when it is
too large, not UTF-8 JSON, nested deeper than :data:`MAX_BODY_DEPTH` levels
(Python's parser itself fails near 1,000), holds numbers that are not finite
(``NaN``, ``1e999``: JSONB refuses them) or whole numbers past the 4,300 digits
Python reads, or holds a lone UTF-16 surrogate
(``"\\ud800"``: not Unicode, so PostgreSQL refuses it). What a field may hold
beyond that (NUL in text, properties nested deeper than 10) is for the field
checks of each door, which name the field in their own answer. A query
parameter holding NUL is refused here too, on every page of the site (the
admin's list filters, the reports' source): PostgreSQL cannot compare text
with it, so it would otherwise end in a server error.

Views read the parsed body with :func:`request_json` (DRF views through
:class:`JSONBodyParser`), so it is parsed once.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser

from intake import errors
from intake.cors import cors
from intake.events import NUL_MESSAGE, SURROGATE_MESSAGE

MAX_BODY_DEPTH = 32
# Segment's own limits (its HTTP Tracking API): the SDKs never send more.
SEGMENT_MAX_BATCH_BYTES = 500 * 1024
SEGMENT_MAX_MESSAGE_BYTES = 32 * 1024
SEGMENT_BATCH_PATHS = frozenset({"/v1/batch", "/v1/b", "/beacon/v1/batch"})
# Where to look for the place a body too deep for the parser passes the limit;
# past it the error names the body, so an unauthenticated body costs little.
_LOCATE_MAX_TOKENS = 20_000
# A \uD800-\uDFFF escape: only through one can a lone surrogate enter (the body
# is strict UTF-8), so bodies without one skip the search for them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{},]')
_STASH = "_leadflow_json_body"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyError(Exception):
    """A body refused whole: the HTTP status, the field path (None: the body as such), why,
    and the stable code a program reads (intake.errors): ``payload_too_large`` for a 413,
    ``parse_error`` for a body that is not JSON, ``invalid`` for a field's value unless told."""

    def __init__(self, status: int, field: str | None, reason: str, code: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.status, self.field, self.reason = status, field, reason
        self.code = code or ("payload_too_large" if status == 413 else errors.INVALID if field else "parse_error")


def _deep(path: str) -> BodyError:
    return BodyError(
        400, path or "body", f"nested deeper than {MAX_BODY_DEPTH} levels (objects and lists)", errors.TOO_DEEP
    )


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large to store")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in key[:60])
    return f"{path}.{shown}" if path else shown


def _locate_depth(text: str) -> str | None:
    """The path at which ``text`` first nests deeper than the limit, or None if not found soon."""
    stack: list[list[Any]] = []  # [opener, the key or index being read]
    for count, token in enumerate(_TOKEN.finditer(text)):
        if count > _LOCATE_MAX_TOKENS:
            return None
        piece = token.group()
        if piece in "{[":
            if len(stack) >= MAX_BODY_DEPTH:
                path = ""
                for _, key in stack:
                    path = _join(path, key if key is not None else "?")
                return path
            stack.append([piece, 0 if piece == "[" else None])
        elif piece in "}]":
            if stack:
                stack.pop()
        elif piece == ",":
            if stack:
                stack[-1][1] = stack[-1][1] + 1 if stack[-1][0] == "[" else None
        elif piece.endswith(":") and stack:
            try:
                stack[-1][1] = str(json.loads(piece[:-1].rstrip()))
            except ValueError:
                stack[-1][1] = "?"
    return None


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_Place = tuple[Any, str | int] | None  # (the parent's place, the key or index here); None: the body


def _path(place: _Place) -> str:
    keys: list[str | int] = []
    while place is not None:
        place, key = place
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path = _join(path, key)
    return path


def _structure_check(data: Any, *, surrogates: bool) -> None:
    """Depth (always) and lone surrogates (when the body may hold one), without recursion.
    Paths are built only for an error: most bodies have none."""
    stack: list[tuple[Any, _Place, int]] = [(data, None, 1)]
    while stack:
        item, place, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_BODY_DEPTH:
                raise _deep(_path(place))
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if surrogates and isinstance(key, str) and _lone_surrogate(key):
                    raise BodyError(400, _path((place, key)), f"key {SURROGATE_MESSAGE}")
                if isinstance(child, dict | list):
                    stack.append((child, (place, key), depth + 1))
                elif surrogates and isinstance(child, str) and _lone_surrogate(child):
                    raise BodyError(400, _path((place, key)), SURROGATE_MESSAGE)
        elif surrogates and isinstance(item, str) and _lone_surrogate(item):
            raise BodyError(400, _path(place) or "body", SURROGATE_MESSAGE)


# orjson reads an integer beyond 64 bits as a float (Python's parser keeps it whole), and
# no float it reads from a number with a fraction or exponent below 2**63 in size is
# this large: a body holding one is read again by Python's parser.
_WIDE = 2.0**63


def _plain(data: Any) -> bool:
    """Whether ``data`` (as orjson read it) nests at most :data:`MAX_BODY_DEPTH` levels and
    holds no float of 2**63 or more in size, found level by level without building paths:
    :func:`_structure_check` costs several times as much, for the place of a fault."""
    level, depth = [data], 1
    while level:
        below: list[Any] = []
        for node in level:
            kind = type(node)
            if kind is dict or kind is list:
                if depth > MAX_BODY_DEPTH:
                    return False
                below.extend(node.values() if kind is dict else node)
            elif kind is float and (node >= _WIDE or node <= -_WIDE):
                return False
        level, depth = below, depth + 1
    return True


@dataclass(frozen=True)
class _Unreadable:
    """Where a number the body may not hold stood, in a body read again to find it."""

    reason: str


def _unreadable_int(text: str) -> int | _Unreadable:
    try:
        return int(text)
    except ValueError:  # past sys.get_int_max_str_digits(): Python reads no longer integer
        return _Unreadable(f"the number {text[:40]}… is too long to read ({len(text)} digits)")


def _unreadable_float(text: str) -> float | _Unreadable:
    try:
        return _finite(text)
    except ValueError as exc:
        return _Unreadable(str(exc))


def _unreadable_number(text: str) -> tuple[str, str] | None:
    """The path of the first number in ``text`` that cannot be stored (NaN, 1e999, an
    integer of thousands of digits) and why, so the answer names the field (``amount``) as
    other refusals do; None if there is none (the text is refused for something else)."""
    try:
        data = json.loads(
            text,
            parse_int=_unreadable_int,
            parse_float=_unreadable_float,
            parse_constant=lambda name: _Unreadable(f"{name} is not a JSON number"),
        )
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[Any, _Place]] = [(data, None)]
    while stack:  # in the body's order: the first found is the one the parser stopped at
        item, place = stack.pop()
        if isinstance(item, _Unreadable):
            return _path(place), item.reason
        pairs = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        stack.extend(reversed([(child, (place, key)) for key, child in pairs]))
    return None


def json_parse(raw: bytes) -> Any:
    """``raw`` as JSON, or :class:`BodyError`: strict UTF-8, finite numbers, at most
    :data:`MAX_BODY_DEPTH` levels, no lone surrogates.

    orjson reads it first and the depth is checked level by level: a body of 1,000 events
    in about a third of the time Python's parser and the place-keeping walk take
    (bench/intake_body.py). orjson refuses what is not UTF-8, numbers that are not finite
    and lone surrogates itself; a body it refuses is read again by Python's parser, whose
    refusal names the reason and the place as it always did."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        if _plain(data):
            return data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, None, f"JSON parse error - the body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise _deep(_locate_depth(text) or "") from None
    except ValueError as exc:
        path, reason = _unreadable_number(text) or ("", str(exc))
        raise BodyError(400, path or None, f"JSON parse error - {reason}", code="parse_error") from None
    _structure_check(data, surrogates=bool(_SURROGATE_ESCAPE.search(text)))
    return data


def json_text(value: Any) -> str:
    """``value`` (parsed from a body) as compact JSON text, non-ASCII kept: by orjson, or by
    Python's encoder for an integer beyond 64 bits, which orjson cannot write. Python's
    ``json.dumps`` with these options built an encoder on every call: most of a stored
    event's cost in the request."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def body_read(request: HttpRequest, *, limit: int) -> bytes:
    """The request's body, gzip-decoded when it says so, or :class:`BodyError` past ``limit`` bytes."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BodyError(400, None, "Content-Length is not a number.") from None
    if length > limit:
        raise BodyError(413, None, f"The body is {length} bytes; the limit is {limit} bytes.")
    raw = request.body
    if request.headers.get("Content-Encoding", "").strip().lower() == "gzip":
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise BodyError(400, None, "the body is not valid gzip") from None
        if len(raw) > limit:
            raise BodyError(413, None, f"The decompressed body is over the limit of {limit} bytes.")
        # zlib checks the checksum and length only at the end of the gzip data, and reads a
        # body cut short before it as far as it goes without a word: without these checks a
        # body missing its last bytes was stored, and one with more after its end (a second
        # gzip member) lost the rest.
        if not inflater.eof:
            raise BodyError(400, None, "the body is not valid gzip: it is cut short before the end of its gzip data")
        if inflater.unused_data:
            raise BodyError(400, None, "the body is not valid gzip: it goes on after the end of its gzip data")
    if len(raw) > limit:
        raise BodyError(413, None, f"The body is {len(raw)} bytes; the limit is {limit} bytes.")
    return raw


def request_json(request: HttpRequest, *, limit: int | None = None) -> Any:
    """The request's JSON body: as the middleware parsed it, or parsed now (same checks).
    An empty body is None."""
    stash = vars(request)
    if _STASH not in stash:
        raw = body_read(request, limit=limit or _default_limit())
        stash[_STASH] = json_parse(raw) if raw.strip() else None
    return stash[_STASH]


def _default_limit() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 5 * 1024 * 1024


# --- the doors ------------------------------------------------------------------


def _api_answer(error: BodyError) -> JsonResponse:
    """DRF's shapes with their codes (intake.errors): ``{"field": ["reason"], "error_codes":
    {"field": ["code"]}}`` or ``{"detail": "reason", "code": "code"}``."""
    if error.field:
        return JsonResponse(errors.field_refusal(error.field, error.reason, error.code), status=error.status)
    return JsonResponse({"detail": error.reason, "code": error.code}, status=error.status)


def _segment_answer(error: BodyError) -> JsonResponse:
    body: dict[str, Any] = {"success": False, "detail": str(error)}
    if error.field:
        body["errors"] = {error.field: [error.reason]}
    return JsonResponse(body, status=error.status)


def _beacon_answer(error: BodyError) -> JsonResponse:
    """The page beacon's shapes: ``{"errors": {...}}`` or ``{"detail": ...}``."""
    if error.field:
        return JsonResponse({"errors": {error.field: [error.reason]}}, status=error.status)
    return JsonResponse({"detail": error.reason}, status=error.status)


def _as_is(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    return response


@dataclass(frozen=True)
class Door:
    matches: Callable[[str], bool]
    answer: Callable[[BodyError], JsonResponse]
    limit: Callable[[], int]
    # DRF answers 415 to bodies not declared JSON; the others read any body as JSON.
    json_declared_only: bool = False
    # Headers the door's views add to every answer, added to the guard's answers too.
    headers: Callable[[HttpRequest, HttpResponse], HttpResponse] = _as_is

    def refuse(self, request: HttpRequest, error: BodyError) -> HttpResponse:
        return self.headers(request, self.answer(error))


DOORS = (
    Door(lambda p: p.startswith("/api/v1/"), _api_answer, _default_limit, json_declared_only=True),
    # The Segment-compatible doors answer other sites' pages too (CORS), refusals included.
    Door(lambda p: p in SEGMENT_BATCH_PATHS, _segment_answer, lambda: SEGMENT_MAX_BATCH_BYTES, headers=cors),
    Door(lambda p: p.startswith("/v1/"), _segment_answer, lambda: SEGMENT_MAX_MESSAGE_BYTES, headers=cors),
    # The beacon view's own CORS headers, so a site's fetch can read why it was refused.
    Door(lambda p: p == "/t/p", _beacon_answer, _default_limit, headers=cors),
)


def door_of(path: str) -> Door | None:
    return next((door for door in DOORS if door.matches(path)), None)


def _nul_parameter(request: HttpRequest) -> str | None:
    """The name of the first query parameter holding NUL (in its name or a value), NUL
    written as ``\\u0000``; None when there is none."""
    for name, values in request.GET.lists():
        if any("\x00" in value for value in values) or "\x00" in name:
            return name.replace("\x00", "\\u0000")
    return None


class JsonBodyGuard:
    """Refuses bad bodies at the doors above, and NUL in query parameters on every
    page, before authentication or any view runs; stashes the parsed body for the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        door = door_of(request.path_info)
        nul = _nul_parameter(request)
        if nul is not None:
            if door is None:  # a page: the person reads the parameter and why, as text
                return HttpResponseBadRequest(f"{nul}: {NUL_MESSAGE}", content_type="text/plain; charset=utf-8")
            return door.refuse(request, BodyError(400, nul, NUL_MESSAGE))
        if door is None:
            return self.get_response(request)
        if request.method in _WRITES and (not door.json_declared_only or _declares_json(request)):
            try:
                request_json(request, limit=door.limit())
            except BodyError as error:
                return door.refuse(request, error)
        return self.get_response(request)


def _declares_json(request: HttpRequest) -> bool:
    content_type = request.content_type or ""
    return content_type == "application/json" or content_type.endswith("+json")


# --- DRF ------------------------------------------------------------------------


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class JSONBodyParser(BaseParser):
    """DRF's JSON parser, reading the body the middleware parsed (or parsing it with the same checks)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        django_request = getattr(request, "_request", None)
        try:
            if isinstance(django_request, HttpRequest):
                return request_json(django_request)
            return json_parse(stream.read())
        except BodyError as error:
            if error.status == status.HTTP_413_REQUEST_ENTITY_TOO_LARGE:
                raise PayloadTooLarge(error.reason, code=error.code) from None
            detail = {error.field: [error.reason]} if error.field else error.reason
            raise exceptions.ParseError(detail, code=error.code) from None
