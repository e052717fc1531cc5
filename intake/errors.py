"""The API's refusals as programs read them: a stable code beside each message.

The texts are English whatever the caller's language (they are for programs, and the
people who write them); a program should branch on the codes, which do not change when
a text is reworded:

- a refusal of the request as such: ``{"detail": "…", "code": "not_authenticated"}``;
- refusals by field: DRF's ``{"field": ["…"]}`` as before, with the same shape of codes
  beside them under ``error_codes``: ``{"email": ["…"], "error_codes": {"email": ["invalid"]}}``;
- an event refused inside a batch: ``{"index": 3, "id": …, "errors": {…}, "codes": {…}}``.

Codes are DRF's where DRF refuses (``required``, ``invalid``, ``null``, ``max_length``,
``not_authenticated``, ``permission_denied``, ``not_found``, ``throttled``,
``parse_error``, ``unsupported_media_type``…) and Leadflow's own otherwise (listed in
the README).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

# Leadflow's own codes, beside DRF's.
UNKNOWN_FIELD = "unknown_field"
REQUIRED = "required"
INVALID = "invalid"
TOO_LARGE = "too_large"
TOO_DEEP = "too_deep"
CONFLICT = "conflict"
BUSY = "busy"

CODES_KEY = "error_codes"


def codes_of(detail: Any) -> Any:
    """The codes of DRF's error detail, in the same shape (a plain text counts as ``invalid``)."""
    if isinstance(detail, dict):
        return {key: codes_of(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [codes_of(value) for value in detail]
    return getattr(detail, "code", None) or INVALID


def with_codes(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (DRF's shapes) with its codes added: ``code`` beside a ``detail``, else
    ``error_codes`` beside the fields."""
    if "detail" in body:
        return {**body, "code": codes_of(body["detail"])}
    return {**body, CODES_KEY: codes_of(body)}


def field_refusal(field: str, reason: str, code: str) -> dict[str, Any]:
    """One field refused, in the API's shape."""
    return {field: [reason], CODES_KEY: {field: [code]}}


def unknown_fields(names: Iterable[str], *, prefix: str = "") -> dict[str, list[ErrorDetail]]:
    """Fields a door does not take, each refused by name (``prefix`` + name) with the code
    ``unknown_field``, in name order."""
    return {f"{prefix}{name}": [ErrorDetail("unknown field", code=UNKNOWN_FIELD)] for name in sorted(names)}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with the codes added to every refusal it answers."""
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict):
        response.data = with_codes(response.data)
    return response


# The doors programs call (the API, the Segment and RudderStack doors, the tracking
# beacons): a refusal there is JSON in the API's shape; elsewhere (pages) text.
_PROGRAM_DOORS = ("/api/", "/v1/", "/beacon/", "/sourceConfig/", "/t/")


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not serve a request just then: the
    connection went away (``InterfaceError``), or PostgreSQL's operational errors (a
    deadlock or serialization failure lost, a lock or statement timeout, the server
    shutting down or out of connections: Django's ``OperationalError``; a missing table
    or column is a ``ProgrammingError`` there), or SQLite's locked or busy database (its
    other operational errors, "no such table" among them, are bugs, not moments)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.OperationalError):
        return any(word in str(cause) for word in ("locked", "busy"))
    return True


class DatabaseBusy:
    """Middleware: a request the database could not serve for a reason of the moment
    (:func:`database_busy`) is answered 503 with ``Retry-After`` rather than 500. The
    statement that failed went back with its transaction, so what the request sent in
    it was not kept: sending it again is the cure (the event doors ignore the events
    already stored by their ids)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_busy(exception):
            return None
        logger.warning("%s %s: the database was busy (%s); answered 503", request.method, request.path, exception)
        reason = "The database is busy: what this request sent was not kept. Send it again in a moment."
        response: HttpResponse
        if request.path.startswith(_PROGRAM_DOORS):
            response = JsonResponse({"detail": reason, "code": BUSY}, status=503)
        else:
            response = HttpResponse(reason, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = "1"
        return response
