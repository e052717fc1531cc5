"""Public nurture endpoints: the one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from nurture import content, services
from scoring.models import Lead

# The links a step's preview and test email carry in place of a lead's own (there is no
# lead): the marketer who tries one is told so rather than shown "not found".
SAMPLE_TOKENS = frozenset({"test", "preview"})


# No CSRF token: mail providers POST "List-Unsubscribe=One-Click" from their
# servers (RFC 8058). The signed token in the URL is the authorisation, and
# all a forged request could do is unsubscribe the token's own lead.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with a button (link scanners only GET); POST: unsubscribe at once."""
    if token in SAMPLE_TOKENS:
        return render(request, "nurture/unsubscribe.html", {"sample": True})
    try:
        payload = content.unsubscribe_payload(token)
    except signing.BadSignature:
        raise Http404("unknown unsubscribe link") from None
    lead = Lead.objects.filter(pk=payload["l"]).only("pk", "email").first()
    if lead is None:
        raise Http404("unknown unsubscribe link")  # erased: nothing left to unsubscribe
    if request.method == "POST":
        services.lead_unsubscribe(lead_id=lead.pk)
        return render(request, "nurture/unsubscribe.html", {"done": True, "email": lead.email})
    response = render(request, "nurture/unsubscribe.html", {"done": False, "email": lead.email})
    response["X-Robots-Tag"] = "noindex"
    return response
