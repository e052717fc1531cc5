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
import sys
from collections.abc import Callable, Iterable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import exception_handler

from intake.cors import cors

logger = logging.getLogger(__name__)

# Leadflow's own codes, beside DRF's.
UNKNOWN_FIELD = "unknown_field"
REQUIRED = "required"
INVALID = "invalid"
TOO_LARGE = "too_large"
TOO_DEEP = "too_deep"
CONFLICT = "conflict"
# A lead named by an email of one lead and the external id of another (intake.lead_refs).
LEAD_MISMATCH = "lead_mismatch"
BUSY = "busy"
# A key used in web pages (ApiKey.public) sent to the API: it works on the Segment doors only.
PUBLIC_KEY = "public_key"

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


# The doors programs call (the API, the Segment and RudderStack doors, the page-view
# beacon): a refusal there is JSON; elsewhere (pages, a tracked click, a form) text.
_PROGRAM_DOORS = ("/api/", "/v1/", "/beacon/", "/sourceConfig/", "/t/p")
# The Segment-compatible doors answer in Segment's shape ({"success": false, …}).
_SEGMENT_DOORS = ("/v1/", "/beacon/")
# PostgreSQL's codes of a moment's trouble: a serialization failure or deadlock lost, a lock
# not available (lock_timeout), the server shutting down, too many connections; and any
# connection exception (class 08). A statement timeout or a full disk is not a moment.
_BUSY_STATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"}


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not serve a request just then: the
    connection went away (``InterfaceError``, or an operational error without a code),
    PostgreSQL's codes of a moment's trouble (:data:`_BUSY_STATES`, class 08), or SQLite's
    busy database (``SQLITE_BUSY``: another connection holds the write lock). Other
    operational errors (a statement timeout, SQLite's "no such table") are not."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        return getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
    state = getattr(cause, "sqlstate", None)
    return state is None or state.startswith("08") or state in _BUSY_STATES


class DatabaseBusy:
    """Middleware: a request the database could not serve for a reason of the moment
    (:func:`database_busy`) is answered 503 with ``Retry-After`` rather than 500, with the
    CORS headers of the cross-site doors. The request did not complete: what it did before
    (a new lead an events request had committed) may stay, and sending it again is safe
    on the doors that take ids (events, outcomes with ``client_id``, Segment's
    ``messageId``): what was stored is not stored twice."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_busy(exception):
            return None
        logger.warning(
            "%s %s: the database was busy; answered 503", request.method, request.path_info, exc_info=exception
        )
        return _busy_response(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """The site's ``handler500``: what :class:`DatabaseBusy` answers for an error of the
    database's moment raised outside a view, where no middleware hears of it (reading the
    session or the signed-in person for the language, saving the session); Django's own
    page for the rest. Django has logged the error with its traceback already."""
    exception = sys.exc_info()[1]
    if exception is not None and database_busy(exception):
        return _busy_response(request)
    return defaults.server_error(request)


def _busy_response(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: JSON with the code ``busy`` on the program doors (in
    Segment's shape on its doors, with the CORS headers of the cross-site ones), text on
    the pages a person reads."""
    path = request.path_info
    reason = "The database was busy and the request did not complete. Send it again in a moment."
    if not path.startswith(_PROGRAM_DOORS):
        page = HttpResponse(reason, status=503, content_type="text/plain; charset=utf-8")
        page["Retry-After"] = "1"
        return page
    segment = {"success": False} if path.startswith(_SEGMENT_DOORS) else {}
    response = JsonResponse({**segment, "detail": reason, "code": BUSY}, status=503)
    response["Retry-After"] = "1"
    return cors(request, response)
