"""Email open pixel and click redirect: the links nurture signed for one email to one
lead (:mod:`nurture.links`). A tampered or unknown token, or one made for the other
purpose, gets 404 and records nothing, and a click only ever redirects to the URL
inside its token (no open redirect).
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from intake import events as checks
from intake import ingest
from intake.tracking.limits import client_network, rate_limited, too_many
from nurture import links
from scoring.models import Lead

logger = logging.getLogger(__name__)

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _payload(token: str, salt: str) -> dict[str, Any]:
    """What an open or click token says, or 404: tampered, made for the other
    purpose, of a shape Leadflow never signs, or for a lead since erased."""
    payload = links.link_read(token, salt=salt)
    if payload is None:
        raise Http404("unknown link")
    if not Lead.objects.filter(pk=payload["l"]).exists():
        raise Http404("unknown link")  # e.g. the lead was erased
    return payload


def _record_email(kind: str, *, lead_id: int, properties: dict[str, Any]) -> None:
    """Store an open or click through the same checks and intake as the API. What
    the token carries was signed by nurture, so a refusal is a bug: logged, and the
    person still gets the image or the link."""
    found = Lead.objects.filter(pk=lead_id).values_list("email", "external_id").first()
    if found is None:
        raise Http404("unknown lead")
    raw: dict[str, Any] = {
        "id": f"t-{uuid.uuid4()}",
        "type": kind,
        "lead": {"email": found[0]} if found[0] else {"external_id": found[1]},
        "properties": properties,
    }
    checked = checks.event_check(raw, index=0, now=timezone.now())
    if isinstance(checked, checks.Rejection):
        logger.warning("%s of lead %s not recorded: %s", kind, lead_id, checked.errors)
        return
    ingest.events_accept([checked], source="tracking")


def _email_limited(request: HttpRequest, endpoint: str, lead_id: int) -> int | None:
    return rate_limited(request, endpoint=endpoint, kind="ip", value=client_network(request)) or rate_limited(
        request, endpoint=endpoint, kind="lead", value=str(lead_id)
    )


@never_cache
@require_GET
def email_open(request: HttpRequest, token: str) -> HttpResponse:
    payload = _payload(token, links.OPEN_SALT)
    wait = _email_limited(request, "open", payload["l"])
    if wait:
        # Still the pixel, so no mail client shows a broken image for it.
        return too_many(HttpResponse(GIF, content_type="image/gif"), wait)
    _record_email("email_open", lead_id=payload["l"], properties={**payload["p"], "campaign": payload["c"]})
    return HttpResponse(GIF, content_type="image/gif")


@never_cache
@require_GET
def email_click(request: HttpRequest, token: str) -> HttpResponse:
    payload = _payload(token, links.CLICK_SALT)
    url = links.web_url(payload["u"])
    # Over a limit the person still goes where the link goes; only the click is not recorded.
    if not _email_limited(request, "click", payload["l"]):
        properties = {**payload["p"], "campaign": payload["c"], "url": url}
        _record_email("email_click", lead_id=payload["l"], properties=properties)
    return HttpResponseRedirect(url)  # only ever the signed URL
