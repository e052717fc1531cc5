"""Public tracking: signed open/click links, the snippet and its beacon, form capture."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections import Counter
from html import unescape
from typing import Any

import pytest
from django.conf import settings as dj_settings
from django.test import Client, RequestFactory, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from intake import tracking
from intake.models import TrackedForm
from intake.tracking import webforms
from nurture import links
from routing import services as routing_services
from routing.models import QueueItem
from scoring import services
from scoring.models import Interaction, Lead, ScoreEntry, Visitor
from tests.factories import LeadFactory, ScoreGroupFactory, ScoringRuleFactory, fit_rule
from tests.routing.factories import TeamFactory
from tests.routing.factories import rule as routing_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def web() -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def lead() -> Lead:
    return LeadFactory.create(email="ana@example.com")


def tamper(path: str) -> str:
    head, token = path.rsplit("/", 1)
    index = len(token) // 2
    return f"{head}/{token[:index]}{'A' if token[index] != 'A' else 'B'}{token[index + 1 :]}"


def test_the_open_pixel_records_an_open_for_the_lead(web: Client, lead: Lead) -> None:
    path = links.open_url(lead_id=lead.pk, campaign="spring", properties={"sequence": "nurture", "step": 2})
    response = web.get(path)
    assert (response.status_code, response["Content-Type"]) == (200, "image/gif")
    assert "no-cache" in response["Cache-Control"]
    opened = Interaction.objects.get()
    assert (opened.lead, opened.type) == (lead, "email_open")
    assert opened.properties == {"sequence": "nurture", "step": 2, "campaign": "spring"}


def test_the_click_redirects_only_to_the_signed_url(web: Client, lead: Lead) -> None:
    path = links.click_url(lead_id=lead.pk, url="https://toys.example/offer?x=1", campaign="spring")
    response = web.get(path, {"next": "https://evil.example/", "url": "https://evil.example/"})
    assert (response.status_code, response["Location"]) == (302, "https://toys.example/offer?x=1")
    clicked = Interaction.objects.get()
    assert (clicked.type, clicked.properties["url"]) == ("email_click", "https://toys.example/offer?x=1")


def test_tampered_or_misused_tokens_get_404_and_record_nothing(web: Client, lead: Lead) -> None:
    opened = links.open_url(lead_id=lead.pk, campaign="c")
    clicked = links.click_url(lead_id=lead.pk, url="https://toys.example/", campaign="c")
    assert web.get(tamper(opened)).status_code == 404
    assert web.get(tamper(clicked)).status_code == 404
    click_token = clicked.rsplit("/", 1)[1]
    assert web.get(f"/t/o/{click_token}.gif").status_code == 404  # another purpose's token
    lead.delete()
    assert web.get(opened).status_code == 404  # an erased lead
    assert not Interaction.objects.exists()


def test_only_web_urls_can_be_signed() -> None:
    with pytest.raises(ValueError, match="http"):
        links.click_url(lead_id=1, url="javascript:alert(1)", campaign="c")


def test_clicks_feed_the_score(web: Client, lead: Lead) -> None:
    ScoringRuleFactory.create(points=4, interaction_types=["email_click"])
    web.get(links.click_url(lead_id=lead.pk, url="https://toys.example/", campaign="spring"))
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert lead.engagement_score == 4


def test_the_snippet_is_javascript_that_beacons_to_leadflow(web: Client) -> None:
    response = web.get("/t/lf.js")
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert "/t/p" in body
    assert "lf_vid" in body
    assert "sendBeacon" in body


def beacon(web: Client, body: object, origin: str | None = None) -> Any:
    headers = {"Origin": origin} if origin else {}
    return web.post("/t/p", json.dumps(body), content_type="text/plain", headers=headers)  # as sendBeacon sends it


def test_a_page_view_is_recorded_for_the_anonymous_visitor(web: Client) -> None:
    response = beacon(web, {"visitor_id": "v-1", "url": "https://toys.example/landing/a", "seconds_on_page": 12.4})
    assert response.status_code == 204
    viewed = Interaction.objects.get()
    assert (viewed.lead, viewed.visitor, viewed.type) == (None, Visitor.objects.get(key="v-1"), "page_view")
    assert viewed.properties["path"] == "/landing/a"
    assert viewed.properties["seconds_on_page"] == 12


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"visitor_id": "bad id", "url": "https://toys.example/"}, "visitor_id"),
        ({"visitor_id": "v", "url": "ftp://toys.example/"}, "url"),
        ({"visitor_id": "v", "url": "https://toys.example/", "seconds_on_page": -1}, "seconds_on_page"),
    ],
)
def test_a_bad_beacon_is_refused_naming_the_field(web: Client, body: dict[str, object], field: str) -> None:
    response = beacon(web, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Interaction.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"visitor_id": "v1", "url": "a\u0000b"}, "url", "must not contain the NUL character (\\u0000)"),
        ({"visitor_id": "v1", "url": {"a": 1}}, "url", "must be text"),
        ({"visitor_id": "v1", "url": "https://toys.example/", "title": ["a"]}, "title", "must be text"),
        ({"visitor_id": "v1", "url": "https://toys.example/", "title": "t\u0000"}, "title", "must not contain"),
        ({"visitor_id": "v1", "url": "https://toys.example/" + "a" * 2000}, "url", "must be text of at most 2000"),
    ],
)
def test_a_beacon_text_field_is_refused_with_its_one_reason(
    web: Client, body: dict[str, object], field: str, reason: str
) -> None:
    response = beacon(web, body)

    assert response.status_code == 400
    [said] = response.json()["errors"][field]
    assert said.startswith(reason)
    assert not Interaction.objects.exists()


@pytest.mark.parametrize("url", ["", "   ", None, "missing"])
def test_a_beacon_without_a_url_is_refused_as_a_required_field(web: Client, url: str | None) -> None:
    """As the API says of a required field, not the length of an address it did not break. In
    English whatever the caller's language, as the beacon's other reasons: a program reads them."""
    body: dict[str, object] = {"visitor_id": "v1"} if url == "missing" else {"visitor_id": "v1", "url": url}

    response = web.post("/t/p", json.dumps(body), content_type="text/plain", headers={"Accept-Language": "es"})

    assert response.status_code == 400
    assert response.json() == {"errors": {"url": ["This field is required."]}}
    assert not Interaction.objects.exists()


def test_cors_only_for_allowed_origins(web: Client, settings: Settings) -> None:
    settings.LEADFLOW_TRACKING_ORIGINS = ["https://toys.example"]
    body = {"visitor_id": "v", "url": "https://toys.example/"}
    allowed = beacon(web, body, origin="https://toys.example")
    assert allowed["Access-Control-Allow-Origin"] == "https://toys.example"
    other = beacon(web, body, origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other


def test_a_form_identifies_the_visitor_whose_views_are_then_scored_once(web: Client) -> None:
    ScoringRuleFactory.create(points=2, interaction_types=["page_view"])
    ScoringRuleFactory.create(points=5, interaction_types=["form_submit"])
    TrackedForm.objects.create(
        key="newsletter", name="Newsletter", lead_fields=["first_name", "attributes.goal"], success_url=""
    )
    for n in range(3):
        beacon(web, {"visitor_id": "v-9", "url": f"https://toys.example/p{n}"})
    web.cookies["lf_vid"] = "v-9"
    response = web.post(
        "/t/f/newsletter", {"email": "Bea@Example.com", "first_name": "Bea", "attributes.goal": "gifts", "kids": "2"}
    )
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.attributes) == ("bea@example.com", "Bea", {"goal": "gifts"})
    form = Interaction.objects.get(type="form_submit")
    assert form.properties == {"form": "newsletter", "kids": "2"}
    services.interactions_score_pending()
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert lead.engagement_score == 3 * 2 + 5
    assert ScoreEntry.objects.filter(lead=lead).count() == 4


def test_forms_unknown_inactive_or_without_email_are_refused(web: Client) -> None:
    assert web.post("/t/f/nope", {"email": "a@example.com"}).status_code == 404
    TrackedForm.objects.create(key="old", name="Old", active=False)
    assert web.post("/t/f/old", {"email": "a@example.com"}).status_code == 404
    TrackedForm.objects.create(key="demo", name="Demo request", success_url="https://toys.example/thanks")
    bad = web.post("/t/f/demo", {"email": "not an email"})
    assert bad.status_code == 400
    assert "email" in bad.content.decode()
    good = web.post("/t/f/demo", {"email": "c@example.com"})
    assert (good.status_code, good["Location"]) == (303, "https://toys.example/thanks")
    assert Interaction.objects.count() == 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(alphabet=st.characters(blacklist_characters="/?#%\x00", codec="ascii"), min_size=1, max_size=80))
def test_random_tokens_never_record_or_fail(web: Client, token: str) -> None:
    assert web.get(f"/t/c/{token}").status_code == 404
    assert web.get(f"/t/o/{token}.gif").status_code == 404
    assert not Interaction.objects.exists()


# --- anonymous sources: rate limits ------------------------------------------------------


def no_limits() -> dict[str, dict[str, list[str]]]:
    return {endpoint: {kind: [] for kind in kinds} for endpoint, kinds in dj_settings.LEADFLOW_RATE_LIMITS.items()}


def from_address(address: str) -> Client:
    return Client(HTTP_HOST="localhost", REMOTE_ADDR=address)


def test_two_hundred_anonymous_posts_cannot_buy_a_lead_a_place_in_the_sales_queue() -> None:
    ScoringRuleFactory.create(points=2, interaction_types=["form_submit"])
    sales_group = ScoreGroupFactory.create(key="sales-ready", min_score=20)
    team = TeamFactory.create(key="sales")
    routing_rule("enters_group", {"kind": "route_to_queue", "team": team}, group=sales_group)
    TrackedForm.objects.create(key="contact", name="Contact")

    # From 200 addresses, as a botnet would: only the lead's own limit stands in the way.
    answers = Counter(
        from_address(f"198.51.100.{n % 250}").post("/t/f/contact", {"email": "victim@example.com"}).status_code
        for n in range(200)
    )
    services.interactions_score_pending()
    routing_services.transitions_route()

    lead = Lead.objects.get(email="victim@example.com")
    assert answers == {200: 5, 429: 195}, "5 an hour per lead by default"
    assert Interaction.objects.filter(lead=lead, type="form_submit").count() == 5
    assert lead.engagement_score == 10
    assert lead.score_group is None
    assert not QueueItem.objects.exists()


def test_one_address_is_limited_but_an_office_behind_it_is_not(web: Client, settings: Settings) -> None:
    # The default's count (30 an address) over an hour, not a minute: 31 posts on a
    # busy machine may straddle the turn of a minute, where the count starts again.
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "form": {"ip": ["30/h"], "lead": []}}
    TrackedForm.objects.create(key="webinar", name="Webinar")
    office = [web.post("/t/f/webinar", {"email": f"colleague{n}@office.example"}).status_code for n in range(30)]
    assert office == [200] * 30, "30 people behind one address sign up"
    flood = web.post("/t/f/webinar", {"email": "one-more@office.example"}, headers={"Accept": "application/json"})
    assert flood.status_code == 429
    assert int(flood["Retry-After"]) >= 1
    assert "detail" in flood.json()
    assert Lead.objects.count() == 30, "a refused post creates no lead"
    other = from_address("203.0.113.7").post("/t/f/webinar", {"email": "elsewhere@example.com"})
    assert other.status_code == 200, "counted per address"


def test_a_person_over_the_limit_reads_why_in_their_language_and_a_program_in_english(
    web: Client, settings: Settings
) -> None:
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "form": {"ip": [], "lead": ["1/h"]}}
    TrackedForm.objects.create(key="webinar", name="Webinar")
    assert web.post("/t/f/webinar", {"email": "ana@example.com"}).status_code == 200
    page = web.post("/t/f/webinar", {"email": "ana@example.com"}, headers={"Accept-Language": "es"})
    assert page.status_code == 429
    assert "Demasiados envíos para esta dirección de correo." in page.content.decode()
    program = web.post(
        "/t/f/webinar", {"email": "ana@example.com"}, headers={"Accept": "application/json", "Accept-Language": "es"}
    )
    assert program.json() == {"detail": "Too many submissions for this email address."}


def test_a_person_reads_a_refused_forms_reasons_in_their_language_and_a_program_in_english(web: Client) -> None:
    TrackedForm.objects.create(key="webinar", name="Webinar")
    refused = {"email": "no es un correo", "visitor_id": "!"}
    page = web.post("/t/f/webinar", refused, headers={"Accept-Language": "es"})
    assert page.status_code == 400
    text = unescape(page.content.decode())
    assert "'no es un correo' no es una dirección de correo válida" in text
    assert "debe tener de 1 a 64 letras, dígitos, '.', '_' o '-'" in text
    program = web.post("/t/f/webinar", refused, headers={"Accept": "application/json", "Accept-Language": "es"})
    assert program.json()["errors"] == {
        "email": ["'no es un correo' is not a valid email address"],
        "visitor_id": ["must be 1 to 64 letters, digits, '.', '_' or '-'"],
    }
    assert not Lead.objects.exists()


def test_a_click_over_the_limit_still_takes_the_person_to_the_link_but_is_not_recorded(
    web: Client, lead: Lead, settings: Settings
) -> None:
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "click": {"ip": [], "lead": ["2/h"]}}
    path = links.click_url(lead_id=lead.pk, url="https://toys.example/offer", campaign="spring")
    answers = [web.get(path) for _ in range(4)]
    assert [(a.status_code, a["Location"]) for a in answers] == [(302, "https://toys.example/offer")] * 4
    assert Interaction.objects.filter(type="email_click").count() == 2


def test_opens_over_the_limit_get_429_with_the_pixel_and_record_nothing(
    web: Client, lead: Lead, settings: Settings
) -> None:
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "open": {"ip": ["3/m"], "lead": []}}
    path = links.open_url(lead_id=lead.pk, campaign="spring")
    answers = [web.get(path) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[-1]["Content-Type"] == "image/gif"
    assert answers[-1].content == tracking.GIF, "mail clients show no broken image"
    assert Interaction.objects.filter(type="email_open").count() == 3


def test_page_views_are_limited_per_visitor_and_per_address(web: Client, settings: Settings) -> None:
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "page": {"ip": ["5/m"], "visitor": ["2/m"]}}
    page = {"url": "https://toys.example/"}
    same_visitor = [beacon(web, {**page, "visitor_id": "v-1"}).status_code for _ in range(3)]
    assert same_visitor == [204, 204, 429]
    others = [beacon(web, {**page, "visitor_id": f"v-{n}"}).status_code for n in range(2, 5)]
    assert others == [204, 204, 429], "the address's 5 a minute are used up"
    assert Interaction.objects.count() == 4


def test_addresses_of_one_ipv6_network_share_its_count(settings: Settings) -> None:
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "page": {"ip": ["2/m"], "visitor": []}}
    page = {"visitor_id": "v-1", "url": "https://toys.example/"}
    same_network = [beacon(from_address(f"2001:db8:0:1::{n}"), page).status_code for n in range(1, 4)]
    assert same_network == [204, 204, 429]
    assert beacon(from_address("2001:db8:0:2::1"), page).status_code == 204


def test_rate_limits_count_in_redis_so_every_web_process_shares_them(
    redis_broker: str, web: Client, fresh_rate_limits: str
) -> None:
    import redis

    assert dj_settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    beacon(web, {"visitor_id": "v-1", "url": "https://toys.example/"})
    client = redis.Redis.from_url(str(dj_settings.CACHES["default"]["LOCATION"]))
    assert client.keys(f"leadflow:1:{fresh_rate_limits}*"), "the counts are in Redis"


def test_when_the_cache_is_down_tracking_goes_on_unlimited(web: Client, settings: Settings, caplog: Any) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0"}
    }
    assert beacon(web, {"visitor_id": "v-1", "url": "https://toys.example/"}).status_code == 204
    assert Interaction.objects.count() == 1
    assert "the cache failed" in caplog.text


def test_behind_trusted_proxies_the_address_the_outermost_saw_is_counted(settings: Settings) -> None:
    settings.LEADFLOW_TRUSTED_PROXY_COUNT = 2
    factory = RequestFactory()

    def seen(forwarded: str) -> str:
        return tracking.client_ip(factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded))

    assert seen("6.6.6.6, 192.0.2.10, 10.0.0.1") == "192.0.2.10", "what the client wrote itself is ignored"
    assert seen("192.0.2.10") == "10.0.0.2", "too few hops: the proxy's own address"
    assert seen("not an address, 10.0.0.1") == "10.0.0.2"
    settings.LEADFLOW_TRUSTED_PROXY_COUNT = 0
    assert seen("192.0.2.10, 10.0.0.1") == "10.0.0.2", "no proxy trusted: the header is the client's word"


@given(forwarded=st.text(max_size=200), hops=st.integers(min_value=0, max_value=4))
def test_any_forwarded_header_gives_an_address(forwarded: str, hops: int) -> None:
    with override_settings(LEADFLOW_TRUSTED_PROXY_COUNT=hops):
        request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
        ipaddress.ip_address(tracking.client_ip(request))


# --- anonymous sources: forms checked like the API -----------------------------------------


@pytest.fixture
def signup() -> TrackedForm:
    return TrackedForm.objects.create(
        key="signup",
        name="Sign-up",
        lead_fields=["first_name", "company", "company_size", "time_zone", "attributes.goal"],
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company_size", "many"),
        ("company_size", "-3"),
        ("company_size", str(10**12)),
        ("time_zone", "Mars/Olympus_Mons"),
        ("first_name", "x" * 101),
    ],
)
def test_a_post_with_a_bad_lead_field_is_refused_whole_naming_it(
    web: Client, signup: TrackedForm, field: str, value: str
) -> None:
    post = {"email": "new@example.com", "first_name": "Bea", "kids": "2", field: value}
    page = web.post("/t/f/signup", post)
    as_json = web.post("/t/f/signup", post, headers={"Accept": "application/json"})

    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
    assert f"<li>{field}: " in page.content.decode()
    assert as_json.status_code == 400
    assert list(as_json.json()["errors"]) == [field]
    assert not Lead.objects.exists(), "no lead is created for a refused post"
    assert not Interaction.objects.exists()


def test_a_refused_post_changes_nothing_of_a_known_lead(web: Client, signup: TrackedForm, lead: Lead) -> None:
    before = Lead.objects.values().get(pk=lead.pk)
    response = web.post("/t/f/signup", {"email": "ANA@example.com", "first_name": "Mallory", "time_zone": "Nowhere"})
    assert response.status_code == 400
    assert Lead.objects.values().get(pk=lead.pk) == before
    assert not Interaction.objects.exists()


def test_a_form_writes_only_the_lead_fields_it_lists(web: Client, lead: Lead) -> None:
    lead.first_name, lead.company = "", "Toys Inc"
    lead.save()
    # Saved before the admin checked lead fields: the ones a form may not write are not lead fields.
    TrackedForm.objects.create(
        key="old", name="Old", lead_fields=["first_name", "company", "lifecycle_stage", "external_id"]
    )
    response = web.post(
        "/t/f/old",
        {
            "email": "ana@example.com",
            "first_name": "Ana María",
            "company": "",  # left blank: changes nothing
            "title": "CEO",  # not listed
            "lifecycle_stage": "owned-by-attacker",
            "external_id": "crm-1",
            "owner": "1",
            "engagement_score": "1000",
        },
    )
    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.first_name, lead.company, lead.title) == ("Ana María", "Toys Inc", "")
    assert (lead.lifecycle_stage, lead.external_id, lead.owner_id, lead.engagement_score) == ("lead", None, None, 0)
    submitted = Interaction.objects.get(type="form_submit")
    assert submitted.properties["lifecycle_stage"] == "owned-by-attacker", "kept as what was posted, nothing more"


def test_a_form_fills_only_what_a_known_lead_lacks_as_a_key_used_in_web_pages_does(web: Client) -> None:
    """Anyone may post a tracked form with any email: it tells Leadflow what it does not
    know of a lead, never changes what a trusted source said (the name a nurture email
    greets her by, the company a sales rep reads, what fit was scored on)."""
    TrackedForm.objects.create(
        key="kontakt",
        name="Kontakt",
        lead_fields=["first_name", "company", "company_size", "time_zone", "attributes.goal", "attributes.plan"],
    )
    known = LeadFactory.create(
        email="kaethe@cafe.example", first_name="Käthe", company="Café Lindner", attributes={"goal": "beans"}
    )
    posted = {
        "email": "Kaethe@Cafe.example",
        "first_name": "https://evil.example/login",
        "company": "Pwned GmbH",
        "company_size": "12",
        "time_zone": "Europe/Berlin",
        "attributes.goal": "pwned",
        "attributes.plan": "pro",
    }

    assert web.post("/t/f/kontakt", posted).status_code == 200
    assert web.post("/t/f/kontakt", {**posted, "email": "new@cafe.example"}).status_code == 200

    known.refresh_from_db()
    assert (known.first_name, known.company, known.attributes["goal"]) == ("Käthe", "Café Lindner", "beans")
    assert (known.company_size, known.time_zone, known.attributes["plan"]) == (12, "Europe/Berlin", "pro"), "blanks"
    new = Lead.objects.get(email="new@cafe.example")
    assert (new.first_name, new.company, new.company_size, new.time_zone, new.attributes) == (
        "https://evil.example/login",
        "Pwned GmbH",
        12,
        "Europe/Berlin",
        {"goal": "pwned", "plan": "pro"},
    )
    assert Interaction.objects.filter(type="form_submit").count() == 2


def test_valid_lead_fields_are_written_through_the_api_checks(web: Client, signup: TrackedForm) -> None:
    post = {
        "email": "bea@example.com",
        "company_size": "250",
        "time_zone": "Europe/Madrid",
        "attributes.goal": "gifts",
        "interests": ["dolls", "trains"],
    }
    response = web.post("/t/f/signup", post, headers={"Accept": "application/json"})
    assert (response.status_code, response.json()) == (200, {"detail": "received"})
    lead = Lead.objects.get()
    assert (lead.company_size, lead.time_zone, lead.attributes) == (250, "Europe/Madrid", {"goal": "gifts"})
    submitted = Interaction.objects.get()
    assert submitted.properties == {"form": "signup", "interests": ["dolls", "trains"]}


@pytest.mark.parametrize("name", sorted(tracking.RESERVED_PROPERTIES))
def test_posted_fields_cannot_override_reserved_properties(web: Client, signup: TrackedForm, name: str) -> None:
    response = web.post(
        "/t/f/signup", {"email": "bea@example.com", name: "spoofed"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert name in response.json()["errors"]
    assert not Interaction.objects.exists()


def test_fields_kept_on_the_interaction_are_bounded(web: Client, signup: TrackedForm) -> None:
    many = {f"extra{n}": "x" for n in range(tracking.MAX_FORM_PROPERTIES + 1)}
    json_ = {"Accept": "application/json"}
    too_many = web.post("/t/f/signup", {"email": "bea@example.com", **many}, headers=json_)
    too_long = web.post("/t/f/signup", {"email": "bea@example.com", "note": "x" * 5001}, headers=json_)
    long_name = web.post("/t/f/signup", {"email": "bea@example.com", "n" * 101: "x"}, headers=json_)
    assert (too_many.status_code, list(too_many.json()["errors"])) == (400, ["fields"])
    assert (too_long.status_code, list(too_long.json()["errors"])) == (400, ["note"])
    assert long_name.status_code == 400
    assert not Lead.objects.exists()
    assert not Interaction.objects.exists()


def test_a_bad_visitor_id_in_the_post_is_refused(web: Client, signup: TrackedForm) -> None:
    response = web.post("/t/f/signup", {"email": "bea@example.com", "visitor_id": "<script>"})
    assert response.status_code == 400
    assert "visitor_id" in response.content.decode()
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("lead_fields", "error"),
    [
        ('["first_name", "lifecycle_stage"]', "&#x27;lifecycle_stage&#x27; cannot be set by a form"),
        ('["external_id"]', "&#x27;external_id&#x27; cannot be set by a form"),
        ('["owner"]', "&#x27;owner&#x27; cannot be set by a form"),
        ('["engagement_score"]', "&#x27;engagement_score&#x27; cannot be set by a form"),
        ('["attributes."]', "name a custom attribute"),
        ("first_name, attributes.", "&#x27;attributes.&#x27;: name a custom attribute"),
        ("first_name, lifecycle_stage", "&#x27;lifecycle_stage&#x27; cannot be set by a form"),
        ("first_name, first_name", "lists a field twice"),
        ('["first_name"', "a list of field names separated by commas"),
    ],
)
def test_the_admin_refuses_a_form_that_would_write_what_forms_may_not(
    admin_client: Client, lead_fields: str, error: str
) -> None:
    data = {"name": "Contact", "key": "contact", "active": "on", "lead_fields": lead_fields, "success_url": ""}
    response = admin_client.post("/admin/intake/trackedform/add/", data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not TrackedForm.objects.exists()


def test_the_admin_saves_a_form_with_lead_fields_a_form_may_write(admin_client: Client) -> None:
    data = {
        "name": "Contact",
        "key": "contact",
        "active": "on",
        "lead_fields": '["first_name", "company", "attributes.goal"]',
        "success_url": "",
    }
    response = admin_client.post("/admin/intake/trackedform/add/", data)
    assert response.status_code == 302
    assert TrackedForm.objects.get().lead_fields == ["first_name", "company", "attributes.goal"]


def test_the_admin_takes_the_lead_fields_as_its_help_writes_them(admin_client: Client) -> None:
    data = {
        "name": "Contact",
        "key": "contact",
        "active": "on",
        "lead_fields": "first_name, company, attributes.goal",
        "success_url": "",
    }
    response = admin_client.post("/admin/intake/trackedform/add/", data)
    assert response.status_code == 302
    form = TrackedForm.objects.get()
    assert form.lead_fields == ["first_name", "company", "attributes.goal"]
    change = admin_client.get(f"/admin/intake/trackedform/{form.pk}/change/").content.decode()
    assert 'value="first_name, company, attributes.goal"' in change


def test_the_admin_names_a_field_a_form_may_not_write_in_spanish(admin_client: Client) -> None:
    data = {"name": "Contacto", "key": "contacto", "active": "on", "lead_fields": "first_name, lifecycle_stage"}
    response = admin_client.post("/admin/intake/trackedform/add/", data, headers={"accept-language": "es"})
    page = response.content.decode()
    assert "&#x27;lifecycle_stage&#x27; no lo puede escribir un formulario" in page
    assert "cannot be set by a form" not in page
    assert not TrackedForm.objects.exists()


def test_a_form_post_past_the_size_limit_is_413_naming_the_limit_in_bytes(
    web: Client, signup: TrackedForm, settings: Settings
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = f"email=new%40example.com&first_name={'x' * 2000}"

    as_json = web.post(
        "/t/f/signup", body, content_type="application/x-www-form-urlencoded", headers={"Accept": "application/json"}
    )
    page = web.post("/t/f/signup", body, content_type="application/x-www-form-urlencoded")

    assert as_json.status_code == 413
    assert as_json.json() == {"detail": f"The body is {len(body)} bytes; the limit is 1000 bytes."}
    assert page.status_code == 413
    assert f"The body is {len(body)} bytes; the limit is 1000 bytes." in page.content.decode()
    assert not Lead.objects.exists()


def test_a_form_post_with_too_many_fields_is_413_naming_the_limit(
    web: Client, signup: TrackedForm, settings: Settings
) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "email=new%40example.com&" + "&".join(f"f{n}=x" for n in range(20))

    as_json = web.post(
        "/t/f/signup", body, content_type="application/x-www-form-urlencoded", headers={"Accept": "application/json"}
    )
    spanish = web.post(
        "/t/f/signup", body, content_type="application/x-www-form-urlencoded", headers={"Accept-Language": "es"}
    )

    assert as_json.status_code == 413
    assert as_json.json() == {"detail": "The body has more fields than the limit of 10."}
    assert spanish.status_code == 413
    assert "El envío tiene más campos que el límite de 10." in spanish.content.decode()
    assert "DATA_UPLOAD" not in as_json.content.decode() + spanish.content.decode()
    assert not Lead.objects.exists()


def test_a_form_field_that_is_not_utf8_is_refused_naming_it(web: Client, signup: TrackedForm) -> None:
    """%ff%fe are no UTF-8: the lead never keeps "��" for the name the person typed."""
    body = "email=new%40example.com&first_name=%ff%fe&company=Toys"

    as_json = web.post(
        "/t/f/signup", body, content_type="application/x-www-form-urlencoded", headers={"Accept": "application/json"}
    )
    page = web.post("/t/f/signup", body, content_type="application/x-www-form-urlencoded")

    assert as_json.status_code == 400
    assert as_json.json() == {"errors": {"first_name": ["must be text in UTF-8: the bytes sent are not"]}}
    assert page.status_code == 400
    assert "<li>first_name: " in page.content.decode()
    assert not Lead.objects.exists()
    assert not Interaction.objects.exists()
    # Text in UTF-8, escaped or not, is kept as typed.
    kept = web.post(
        "/t/f/signup",
        "email=new%40example.com&first_name=Mar%C3%ADa+Jos%C3%A9",
        content_type="application/x-www-form-urlencoded",
    )
    assert kept.status_code == 200
    assert Lead.objects.get().first_name == "María José"


def multipart(fields: list[tuple[bytes, bytes]], boundary: bytes = b"lf-boundary") -> bytes:
    """A multipart/form-data body of ``fields`` as a browser sends it, bytes as given."""
    parts = [
        b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, name, value)
        for name, value in fields
    ]
    return b"".join(parts) + b"--%s--\r\n" % boundary


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ((b"first_name", b"\xff\xfe"), "first_name"),  # kept as "\ufffd\ufffd" for the name typed
        ((b"kids\xff", b"2"), "kids\ufffd"),  # Django left its part out: the answer was lost
        ((b"email", b"ana\xff@example.com"), "email"),
    ],
)
def test_a_multipart_form_field_that_is_not_utf8_is_refused_naming_it(
    web: Client, signup: TrackedForm, field: tuple[bytes, bytes], named: str
) -> None:
    """As a URL-encoded one is: a form sent as multipart/form-data (a page with a file input,
    or JavaScript's FormData) gives its fields' bytes as they are."""
    body = multipart([(b"email", b"new@example.com"), field, (b"company", b"Toys")])
    content_type = "multipart/form-data; boundary=lf-boundary"

    as_json = web.generic("POST", "/t/f/signup", body, content_type, headers={"Accept": "application/json"})
    page = web.generic("POST", "/t/f/signup", body, content_type, headers={"Accept-Language": "es"})

    assert as_json.status_code == 400
    assert as_json.json() == {"errors": {named: ["must be text in UTF-8: the bytes sent are not"]}}
    assert page.status_code == 400
    assert f"<li>{named}: debe ser texto en UTF-8" in unescape(page.content.decode())
    assert not Lead.objects.exists()
    assert not Interaction.objects.exists()


def test_a_multipart_form_keeps_its_utf8_text_as_typed(web: Client, signup: TrackedForm) -> None:
    body = multipart([(b"email", b"new@example.com"), (b"first_name", "María José".encode()), ("niños".encode(), b"2")])

    response = web.generic("POST", "/t/f/signup", body, "multipart/form-data; boundary=lf-boundary")

    assert response.status_code == 200
    assert Lead.objects.get().first_name == "María José"
    assert Interaction.objects.get().properties == {"form": "signup", "niños": "2"}


def test_a_visitors_page_views_count_against_its_leads_limit_when_a_form_ties_them(
    web: Client, settings: Settings, caplog: Any, admin_client: Client
) -> None:
    """Page views sent for made-up visitors, each tied to the lead by a form post, moved to
    the lead whole: three visitors of 30 views each gave it 90 views to score, bounded only
    by the form's 5 posts an hour. What moves now counts against the lead's limit of a key
    used in web pages; the rest stays with the visitor, unscored, and is said so."""
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "browser": {"ip": [], "lead": ["40/h"]}}
    ScoringRuleFactory.create(points=5, interaction_types=["page_view"])
    TrackedForm.objects.create(key="kontakt", name="Kontakt")
    for visitor in ("v-1", "v-2", "v-3"):
        for n in range(30):
            assert beacon(web, {"visitor_id": visitor, "url": f"https://site.example/maschinen/{n}"}).status_code == 204
        web.cookies["lf_vid"] = visitor
        assert web.post("/t/f/kontakt", {"email": "someone@gmail.com"}).status_code == 200

    lead = Lead.objects.get()
    assert Interaction.objects.filter(lead=lead, type="page_view").count() == 40
    assert Interaction.objects.filter(lead=lead, type="form_submit").count() == 3
    assert Interaction.objects.filter(visitor__key="v-2", lead=None).count() == 20
    assert Interaction.objects.filter(visitor__key="v-3", lead=None).count() == 30
    assert Visitor.objects.filter(lead=lead).count() == 3, "each visitor is the lead's from then on"
    assert "20 page views of its visitor were left unscored" in caplog.text
    visitors = admin_client.get("/admin/scoring/visitor/", {"o": "1"}).content.decode()
    assert "Interactions left unscored" in visitors
    cells = [unescape(cell) for cell in re.findall(r'<td class="field-left_unscored">(.*?)</td>', visitors)]
    assert cells == ["0", "20", "30"], "v-1, v-2, v-3"
    services.interactions_score_pending()
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert lead.engagement_score == 40 * 5


def test_page_views_a_visitor_sends_while_its_form_post_is_counted_move_no_further_than_the_limit(
    web: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Room for every waiting page view left the move uncapped, so those the visitor sent
    between the count and the move went to the lead past its limit."""
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "browser": {"ip": [], "lead": ["10/h"]}}
    TrackedForm.objects.create(key="kontakt", name="Kontakt")
    for n in range(10):
        assert beacon(web, {"visitor_id": "v-1", "url": f"https://site.example/{n}"}).status_code == 204
    counted = webforms._visitor_moves_counted

    def then_more_arrive(*args: Any) -> Any:
        room = counted(*args)
        for n in range(20):
            assert (
                beacon(
                    Client(HTTP_HOST="localhost"), {"visitor_id": "v-1", "url": f"https://site.example/late/{n}"}
                ).status_code
                == 204
            )
        return room

    monkeypatch.setattr(webforms, "_visitor_moves_counted", then_more_arrive)
    web.cookies["lf_vid"] = "v-1"
    assert web.post("/t/f/kontakt", {"email": "someone@gmail.com"}).status_code == 200

    assert Interaction.objects.filter(lead__email="someone@gmail.com", type="page_view").count() == 10
    assert Interaction.objects.filter(visitor__key="v-1", lead=None).count() == 20


def test_a_visitor_tied_to_a_lead_sends_page_views_counted_for_the_lead(web: Client, settings: Settings) -> None:
    """Tied first, by a form's post each, made-up visitors then sent the lead 500 page views
    a day each, counted only per visitor. A tied visitor's page views now count against the
    lead's limit for what pages bring it; an anonymous visitor's, as before, against its own."""
    settings.LEADFLOW_RATE_LIMITS = {**no_limits(), "browser": {"ip": [], "lead": ["3/h"]}}
    TrackedForm.objects.create(key="kontakt", name="Kontakt")
    for visitor in ("v-1", "v-2"):
        web.cookies["lf_vid"] = visitor
        assert web.post("/t/f/kontakt", {"email": "someone@gmail.com"}).status_code == 200

    sent = [beacon(web, {"visitor_id": v, "url": "https://site.example/"}) for v in ("v-1", "v-2", "v-1", "v-2")]

    assert [answer.status_code for answer in sent] == [204, 204, 204, 429]
    assert int(sent[-1]["Retry-After"]) >= 1
    assert Interaction.objects.filter(lead__email="someone@gmail.com", type="page_view").count() == 3
    assert beacon(web, {"visitor_id": "v-9", "url": "https://site.example/"}).status_code == 204


def test_a_german_form_s_numbers_meet_the_rules_as_a_german_reads_them(web: Client, settings: Settings) -> None:
    """2,5 kg a month is below 20, and a budget of 5.000 is five thousand: the form's text
    was read with its commas dropped (25, and 5)."""
    settings.LANGUAGE_CODE = "de"
    fit_rule(10, "attributes.kg_monat", "gte", 20)
    fit_rule(7, "attributes.budget", "gte", 5000)
    TrackedForm.objects.create(
        key="kontakt", name="Kontakt", lead_fields=["attributes.kg_monat", "attributes.budget"], success_url=""
    )

    response = web.post(
        "/t/f/kontakt", {"email": "lena@example.de", "attributes.kg_monat": "2,5", "attributes.budget": "5.000"}
    )

    assert response.status_code == 200
    lead = Lead.objects.get()
    assert lead.attributes == {"kg_monat": "2,5", "budget": "5.000"}
    assert lead.fit_score == 7


def test_a_revenue_typed_in_a_form_is_read_as_the_site_writes_numbers_and_a_person_told_how(
    web: Client, settings: Settings
) -> None:
    settings.LANGUAGE_CODE = "es"
    TrackedForm.objects.create(key="demo", name="Demo", lead_fields=["annual_revenue"], success_url="")
    assert web.post("/t/f/demo", {"email": "ana@example.com", "annual_revenue": "1.250,50"}).status_code == 200
    assert str(Lead.objects.get().annual_revenue) == "1250.50"
    # English marks read only one way there: a visitor's "1,250.50" is theirs too.
    assert web.post("/t/f/demo", {"email": "cy@example.com", "annual_revenue": "1,250.50"}).status_code == 200
    assert str(Lead.objects.get(email="cy@example.com").annual_revenue) == "1250.50"

    refused = {"email": "bea@example.com", "annual_revenue": "1,2,3"}
    page = web.post("/t/f/demo", refused, headers={"Accept-Language": "es"})
    assert page.status_code == 400
    assert "debe ser un número escrito como lo escribe el idioma del sitio, como 1.250,50" in unescape(
        page.content.decode()
    )
    program = web.post("/t/f/demo", refused, headers={"Accept": "application/json", "Accept-Language": "es"})
    assert program.json()["errors"]["annual_revenue"] == [
        "must be a number as the site's language writes it, such as 1.250,50 (',' before the decimals), "
        "or a JSON number"
    ]
