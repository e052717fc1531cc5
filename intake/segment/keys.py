"""The write key of a Segment-compatible request: where the SDKs send it, whether it
may send events, and the refusal answered in Segment's shape."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, JsonResponse

from intake.api_keys import InvalidKey, api_key_has_scope, api_key_verify
from intake.models import ApiKey, ApiScope


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
        except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
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
