"""Fuzzing the public tracking endpoints: whatever anyone sends to /t/f/<key>, /t/p,
/t/o/… or /t/c/…, the answer is never a 5xx, and a refused request stores nothing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import signing
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from intake.models import TrackedForm
from nurture import links
from scoring.models import Interaction, Lead, Visitor
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text a client can send: anything but lone surrogates, which no encoding carries.
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=120)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@pytest.fixture
def web(settings: Settings) -> Client:
    # No limits, so that every request reaches the checks behind them.
    settings.LEADFLOW_RATE_LIMITS = {
        endpoint: {kind: [] for kind in kinds} for endpoint, kinds in settings.LEADFLOW_RATE_LIMITS.items()
    }
    return Client(HTTP_HOST="localhost")


def stored() -> tuple[list[Any], int, int]:
    return list(Lead.objects.order_by("pk").values()), Interaction.objects.count(), Visitor.objects.count()


FORM_FIELD_NAMES = st.one_of(
    st.sampled_from(
        [
            "email",
            "visitor_id",
            "first_name",
            "company",
            "company_size",
            "annual_revenue",
            "time_zone",
            "attributes.goal",
            "lifecycle_stage",
            "external_id",
            "form",
            "campaign",
            "notes",
        ]
    ),
    TEXT,
)
FORM_VALUES = st.one_of(
    TEXT,
    st.sampled_from(["ana@example.com", "10", "-1", "1e400", "10" * 12, "Europe/Madrid", "NaN", "\x00"]),
    st.lists(TEXT, min_size=1, max_size=3),
)


@fuzz
@given(
    post=st.dictionaries(FORM_FIELD_NAMES, FORM_VALUES, max_size=8),
    email=st.one_of(st.none(), st.emails(), TEXT),
    encoding=st.sampled_from(["multipart", "urlencoded"]),
    accept=st.sampled_from(["text/html", "application/json", "*/*"]),
)
def test_form_posts_never_fail_and_a_refused_one_stores_nothing(
    web: Client, post: dict[str, Any], email: str | None, encoding: str, accept: str
) -> None:
    TrackedForm.objects.get_or_create(
        key="fuzz",
        defaults={
            "name": "Fuzz",
            "lead_fields": ["first_name", "company", "company_size", "annual_revenue", "time_zone", "attributes.goal"],
        },
    )
    if email is not None:
        post = {**post, "email": email}
    before = stored()
    headers = {"Accept": accept}
    if encoding == "multipart":
        response = web.post("/t/f/fuzz", post, headers=headers)
    else:
        body = urlencode(post, doseq=True)
        response = web.post("/t/f/fuzz", body, content_type="application/x-www-form-urlencoded", headers=headers)

    assert response.status_code in (200, 400), response.content[:300]
    leads, interactions, _ = stored()
    if response.status_code == 400:
        assert (leads, interactions) == before[:2], "a refused post changes nothing"
    else:
        assert interactions == before[1] + 1


BEACON_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "visitor_id": st.one_of(st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z"), JSON_VALUES),
        "url": st.one_of(st.sampled_from(["https://toys.example/a?b=1", "ftp://x", ""]), st.text(), JSON_VALUES),
        "title": st.one_of(st.text(), JSON_VALUES),
        "referrer": st.one_of(st.text(), JSON_VALUES),
        "seconds_on_page": st.one_of(st.integers(), st.floats(), JSON_VALUES),
    },
)


@fuzz
@given(
    body=st.one_of(
        BEACON_FIELDS.map(json.dumps),
        JSON_VALUES.map(json.dumps),
        st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),
        st.integers(min_value=1, max_value=3000).map(lambda n: '{"visitor_id":' * n + "1" + "}" * n),
        st.binary(max_size=200),
    ),
    content_type=st.sampled_from(["text/plain", "application/json"]),
)
def test_page_beacons_never_fail_and_a_refused_one_stores_nothing(
    web: Client, body: str | bytes, content_type: str
) -> None:
    before = stored()
    response = web.post("/t/p", body, content_type=content_type)
    assert response.status_code in (204, 400, 413), response.content[:300]
    if response.status_code != 204:
        assert stored() == before


@fuzz
@given(
    payload=st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries(
            {"l": st.one_of(st.just("lead"), st.integers(), JSON_VALUES)},
            optional={
                "u": st.one_of(st.sampled_from(["https://toys.example/", "javascript:alert(1)"]), JSON_VALUES),
                "c": JSON_VALUES,
                "p": JSON_VALUES,
            },
        ),
    ),
    forged=st.text(alphabet=st.characters(blacklist_characters="/?#%\x00", codec="ascii"), min_size=1, max_size=80),
)
def test_open_and_click_links_never_fail_whatever_their_token_holds(web: Client, payload: Any, forged: str) -> None:
    """Tokens signed with any content (an older shape, a bug) as well as forged ones."""
    lead = Lead.objects.first() or LeadFactory.create()
    if isinstance(payload, dict) and payload.get("l") == "lead":
        payload = {**payload, "l": lead.pk}
    for salt, prefix, suffix in ((links.OPEN_SALT, "/t/o/", ".gif"), (links.CLICK_SALT, "/t/c/", "")):
        for token in (signing.dumps(payload, salt=salt, compress=True), forged):
            response = web.get(f"{prefix}{token}{suffix}")
            assert response.status_code in (200, 302, 404), response.content[:300]
