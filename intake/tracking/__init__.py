"""Public tracking under /t/: email open pixel and click redirect, the web
snippet and its page-view beacon, and form capture. No API key, but nothing
here can be forged into a lead's score:

- open and click links carry a token nurture signed with the site's secret
  (:mod:`nurture.links`, one salt per purpose); a tampered or unknown token
  gets 404 and records nothing, and a click only ever redirects to the URL
  inside its token (no open redirect);
- page views are recorded for an anonymous visitor only (the first-party
  cookie the snippet sets): forging them can only score a visitor the forger
  controls, until that visitor identifies with a form;
- form submissions are accepted only for forms configured in the admin, go
  through the API's lead checks and are refused whole when anything is wrong;
  they write only the lead fields the form lists (never stage, owner, scores or
  external id) and cannot set the properties Leadflow itself relies on;
- every endpoint is rate-limited per client address and per lead or visitor
  (``settings.LEADFLOW_RATE_LIMITS``, counted in the shared cache), so posting
  in a loop cannot buy a lead a score. Over a limit the answer is 429, except a
  click: the person still goes where the link goes, but nothing is recorded.

Each request records one interaction (its id a fresh UUID): opening an email
twice is two opens; rules' caps decide what they are worth.

``links`` holds the open pixel and the click, ``pages`` the snippet and its
beacon, ``webforms`` form capture and ``limits`` the rate limits; the names
other modules use are kept here.
"""

from __future__ import annotations

from django.urls import path

from intake.events import RESERVED_PROPERTIES
from intake.tracking.limits import client_ip, client_network, rate_limited
from intake.tracking.links import GIF, email_click, email_open
from intake.tracking.pages import VISITOR_COOKIE, page_view, snippet
from intake.tracking.webforms import (
    FORM_LEAD_FIELDS,
    MAX_FORM_PROPERTIES,
    FormRefused,
    FormSubmission,
    form_capture,
    form_lead_field_problems,
    form_submission_check,
)

__all__ = [
    "FORM_LEAD_FIELDS",
    "GIF",
    "MAX_FORM_PROPERTIES",
    "RESERVED_PROPERTIES",
    "VISITOR_COOKIE",
    "FormRefused",
    "FormSubmission",
    "client_ip",
    "client_network",
    "form_lead_field_problems",
    "form_submission_check",
    "rate_limited",
]

app_name = "tracking"
urlpatterns = [
    path("o/<str:token>.gif", email_open, name="open"),
    path("c/<str:token>", email_click, name="click"),
    path("lf.js", snippet, name="snippet"),
    path("p", page_view, name="page_view"),
    path("f/<slug:key>", form_capture, name="form"),
]
