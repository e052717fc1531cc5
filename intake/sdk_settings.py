"""What the browser SDKs fetch before they send anything, answered by Leadflow so they
never call their vendors' servers (nor hand them the write key):

- Segment's analytics-next, loaded with ``cdnURL`` set to Leadflow, asks
  ``GET /v1/projects/{writeKey}/settings``: the answer turns on its
  ``Segment.io`` destination with ``apiHost`` pointing at Leadflow's ``/v1``, and
  no other destination, plugin or metrics.
- RudderStack's analytics-js, loaded with ``configUrl`` set to Leadflow, asks
  ``GET /sourceConfig/?writeKey=…`` (also as HTTP Basic): the answer is an enabled
  source with that write key and no destinations, so it sends only to its data
  plane (Leadflow) and reports no errors or metrics elsewhere.

A key used in browser code is public there, so these doors answer only for keys
that can send events and nothing else (the scope ``events:write`` alone): a key
that could read or change leads is refused, saying so.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control

from intake.cors import cross_site
from intake.models import ApiKey, ApiScope
from intake.segment.keys import Refusal, request_write_key, write_key_verify

# The SDKs ask again on every page view; a browser may keep the answer this long.
SETTINGS_MAX_AGE_SECONDS = 300


def _browser_key(key: str) -> ApiKey:
    """The write key ``key`` is, when fit for browser code; or :class:`Refusal` saying why not."""
    api_key = write_key_verify(key)
    extra = sorted(set(api_key.scopes) - {ApiScope.EVENTS_WRITE.value})
    if extra:
        reason = (
            f"this key may also {', '.join(extra)}: a key in browser code is public there, "
            f"so give the browser a key with the scope {ApiScope.EVENTS_WRITE.value} only"
        )
        raise Refusal(403, reason, {"writeKey": [reason]})
    return api_key


def _cached(response: HttpResponse) -> HttpResponse:
    """A settings answer the browser may keep a while (refusals are not kept)."""
    patch_cache_control(response, private=True, max_age=SETTINGS_MAX_AGE_SECONDS)
    return response


def _leadflow_host(request: HttpRequest) -> tuple[str, str]:
    """(scheme, host) the SDK reached Leadflow by: where it should send its events too."""
    return request.scheme or "https", request.get_host()


def segment_settings_answer(*, write_key: str, scheme: str, host: str) -> dict[str, Any]:
    """What analytics-next needs to start: its Segment.io destination sending to
    Leadflow's ``/v1`` (short paths, e.g. ``/v1/t``), and nothing else turned on."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{host}/v1",
                "protocol": scheme,
                "unbundledIntegrations": [],
                "addBundledMetadata": False,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        # 0: the SDK sends no usage metrics of its own (they would go to Segment).
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def rudderstack_source_config_answer(*, write_key: str, api_key: ApiKey) -> dict[str, Any]:
    """What analytics-js 3.x needs to start: an enabled source holding the write key,
    no destinations (device-mode ones would load vendors' scripts), and no error or
    metrics reports (they would go to RudderStack)."""
    return {
        "isHosted": False,
        "source": {
            "id": f"leadflow-{api_key.prefix}",
            "name": api_key.name,
            "writeKey": write_key,
            "enabled": True,
            "workspaceId": "leadflow",
            "updatedAt": api_key.created_at.isoformat(),
            "config": {"statsCollection": {"errors": {"enabled": False}, "metrics": {"enabled": False}}},
            "destinations": [],
        },
    }


@cross_site("GET")
def segment_settings(request: HttpRequest, write_key: str) -> HttpResponse:
    try:
        _browser_key(write_key)
    except Refusal as refusal:
        return refusal.response()
    scheme, host = _leadflow_host(request)
    return _cached(JsonResponse(segment_settings_answer(write_key=write_key, scheme=scheme, host=host)))


@cross_site("GET")
def rudderstack_source_config(request: HttpRequest) -> HttpResponse:
    try:
        key = request_write_key(request, {}, in_query=True)
        api_key = _browser_key(key)
    except Refusal as refusal:
        return refusal.response()
    return _cached(JsonResponse(rudderstack_source_config_answer(write_key=key, api_key=api_key)))
