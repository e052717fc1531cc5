"""A key used in web pages (a Segment or RudderStack write key) is public there: anyone
can read it from the page and send with it. It sends events through the Segment doors
only, and those count its requests per address and its messages per lead, as the
tracking endpoints count theirs; a key kept on a server is not counted."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from intake.admin import ApiKeyForm
from intake.api_keys import api_key_issue
from intake.models import ApiKey
from intake.segment.messages import PAGE_TIME_WINDOW, messages_check
from scoring.models import Campaign, EventType, Interaction, Lead

pytestmark = pytest.mark.django_db


def segment_client(*, public: bool) -> Client:
    key = api_key_issue(name="Website" if public else "Backend", public=public).key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}")


def send(client: Client, path: str, body: object) -> Any:
    return client.post(f"/v1/{path}", json.dumps(body), content_type="application/json")


def track(n: int, who: str) -> dict[str, Any]:
    return {"type": "track", "messageId": f"m-{who}-{n}", "userId": who, "event": "Email Link Clicked"}


@pytest.fixture
def limits(settings: Any) -> dict[str, list[str]]:
    browser: dict[str, list[str]] = {"ip": [], "lead": []}
    settings.LEADFLOW_RATE_LIMITS = {**settings.LEADFLOW_RATE_LIMITS, "browser": browser}
    return browser


def test_a_public_key_sends_events_through_the_segment_doors_only() -> None:
    key = api_key_issue(name="Website", public=True).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    event = {"id": "e-1", "type": "email_click", "lead": {"email": "ana@example.com"}}

    refused = api.post("/api/v1/events", json.dumps({"events": [event]}), content_type="application/json")

    assert refused.status_code == 403
    assert refused.json()["code"] == "public_key"
    assert api.get("/api/v1/leads").json()["code"] == "public_key"
    assert not Interaction.objects.exists()
    assert send(segment_client(public=True), "track", track(1, "ana@example.com")).status_code == 200


def test_a_public_key_may_only_send_events() -> None:
    with pytest.raises(ValueError, match="may only send events"):
        api_key_issue(name="Website", scopes=["events:write", "leads:read"], public=True)
    form = ApiKeyForm(data={"name": "Website", "public": "on", "scopes": ["events:write", "leads:read"]})
    assert not form.is_valid()
    assert "may only send events" in str(form.errors["scopes"])
    with pytest.raises(CommandError, match="may only send events"):
        call_command("api_key_create", "Website", "--public", "--scope", "leads:read", stdout=StringIO())

    call_command("api_key_create", "Website", "--public", stdout=StringIO(), stderr=StringIO())
    assert ApiKey.objects.get(name="Website").public


def test_a_public_keys_messages_are_counted_per_address(limits: dict[str, list[str]]) -> None:
    limits["ip"] = ["2/m"]
    page, server = segment_client(public=True), segment_client(public=False)

    answers = [send(page, "track", track(n, "ana@example.com")) for n in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2]["Retry-After"]) >= 1
    assert answers[2].json()["success"] is False
    assert Interaction.objects.count() == 2
    # A key kept on a server is not counted.
    assert all(send(server, "track", track(n, "bo@example.com")).status_code == 200 for n in range(5))
    # Each message of a batch counts, and a batch larger than a page's SDK sends is refused.
    limits["ip"] = ["150/m"]
    other = Client(
        HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=page.defaults["HTTP_AUTHORIZATION"]
    )
    big = send(other, "batch", {"batch": [track(n, f"p{n}@example.com") for n in range(101)]})
    assert (big.status_code, big.json()["errors"]) == (
        400,
        {"batch": ["at most 100 messages per batch with a key used in web pages, got 101"]},
    )
    assert send(other, "batch", {"batch": [track(n, f"p{n}@example.com") for n in range(100)]}).status_code == 200
    assert send(other, "batch", {"batch": [track(n, f"q{n}@example.com") for n in range(100)]}).status_code == 429


def test_a_public_keys_messages_are_counted_per_lead(limits: dict[str, list[str]]) -> None:
    """A flood for one lead (clicks it never made, raising its score) stops at the lead's
    limit; the batch's other messages go on, and a message alone is told to wait."""
    limits["lead"] = ["2/h"]
    page = segment_client(public=True)
    identify = {"type": "identify", "messageId": "i-1", "userId": "crm-7", "traits": {"email": "Ana@example.com"}}
    batch = [identify, track(1, "ana@example.com"), track(2, "ana@example.com"), track(1, "bo@example.com")]

    body = send(page, "batch", {"batch": batch}).json()

    assert body["accepted"] == 2
    assert body["rejected"] == [
        {
            "index": 2,
            "messageId": "m-ana@example.com-2",
            "errors": {"userId": [body["rejected"][0]["errors"]["userId"][0]]},
        }
    ]
    assert body["rejected"][0]["errors"]["userId"][0].startswith("too many messages for this lead from web pages")
    assert Lead.objects.filter(email="ana@example.com").exists()
    alone = send(page, "track", track(3, "ana@example.com"))
    assert (alone.status_code, alone.json()["success"]) == (429, False)
    assert send(page, "batch", {"batch": [track(4, "ana@example.com")]}).status_code == 429
    # Another lead is not held up.
    assert send(page, "track", track(1, "zoe@example.com")).status_code == 200
    assert Interaction.objects.filter(lead__email="ana@example.com").count() == 1
    # A key kept on a server is not counted.
    server = segment_client(public=False)
    assert send(server, "batch", {"batch": [track(n, "ana@example.com") for n in range(5, 9)]}).json()["accepted"] == 4


def test_messages_naming_only_a_visitor_are_counted_for_its_lead(limits: dict[str, list[str]]) -> None:
    """A visitor tied to a lead (one identify with the lead's email) carried a flood of
    events naming only its anonymousId past the lead's limit: each counted for the lead,
    none was counted."""
    limits["lead"] = ["3/h"]
    page = segment_client(public=True)
    identify = {"type": "identify", "messageId": "i-1", "anonymousId": "v-1", "traits": {"email": "ana@example.com"}}
    assert send(page, "identify", identify).json()["identified"] == 1
    clicks = [
        {"type": "track", "messageId": f"c-{n}", "anonymousId": "v-1", "event": "Email Link Clicked"} for n in range(5)
    ]

    body = send(page, "batch", {"batch": clicks}).json()

    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [2, 3, 4]
    assert body["rejected"][0]["errors"]["anonymousId"][0].startswith("too many messages for this lead from web pages")
    assert Interaction.objects.filter(lead__email="ana@example.com").count() == 2
    # A visitor no lead has yet is counted on its own: its events move to the lead it identifies as.
    views = [
        {"type": "page", "messageId": f"p-{n}", "anonymousId": "v-2", "properties": {"url": "https://a.example/"}}
        for n in range(5)
    ]
    assert send(page, "batch", {"batch": views}).json()["accepted"] == 3


def test_a_lead_is_counted_once_however_its_reference_is_spelled(limits: dict[str, list[str]]) -> None:
    """The lead's email in any case and its external id with spaces around are the same
    lead to the checks, and to the count."""
    limits["lead"] = ["2/h"]
    page = segment_client(public=True)
    Lead.objects.create(email="bo@example.com", external_id="crm-1")  # given by a server
    ids = [{**track(n, "x"), "userId": spelled} for n, spelled in enumerate(["crm-1", " crm-1", "crm-1\t"])]
    emails = [track(n, spelled) for n, spelled in enumerate(["ana@example.com", "ANA@example.com", " ana@example.com"])]

    assert send(page, "batch", {"batch": ids}).json()["accepted"] == 2
    assert send(page, "batch", {"batch": emails}).json()["accepted"] == 2


def test_a_public_key_names_leads_but_gives_none_an_external_id() -> None:
    """Anyone can read the key: an identify with it could take a lead's CRM id and have the
    CRM's own identify refused."""
    page = segment_client(public=True)
    identify = {"type": "identify", "messageId": "i-1", "userId": "crm-7", "traits": {"email": "ana@example.com"}}

    assert send(page, "identify", identify).status_code == 200
    # Nor does an event naming a new lead by its email and an external id.
    assert send(page, "track", {**track(1, "crm-8"), "traits": {"email": "bo@example.com"}}).status_code == 200

    assert Lead.objects.get(email="ana@example.com").external_id is None
    assert Lead.objects.get(email="bo@example.com").external_id is None
    server = segment_client(public=False)
    assert send(server, "identify", {**identify, "messageId": "i-2"}).status_code == 200
    assert Lead.objects.get(email="ana@example.com").external_id == "crm-7"


def test_a_public_keys_traits_fill_only_what_a_lead_lacks() -> None:
    """Anyone could otherwise make a lead a "CEO" of a bigger company, and its fit score
    with it, by an identify from the page."""
    server, page = segment_client(public=False), segment_client(public=True)
    known = {"email": "ana@acme.example", "title": "Student", "employees": 3, "plan": "free"}
    assert send(server, "identify", {"type": "identify", "messageId": "i-1", "traits": known}).status_code == 200

    said = {"email": "ana@acme.example", "title": "CEO", "employees": 5000, "country": "ES", "plan": "gold", "ref": "x"}
    assert send(page, "identify", {"type": "identify", "messageId": "i-2", "traits": said}).status_code == 200

    ana = Lead.objects.get(email="ana@acme.example")
    assert (ana.title, ana.company_size, ana.country) == ("Student", 3, "ES")
    assert ana.attributes == {"plan": "free", "ref": "x"}
    # A new person's traits are all written: there is nothing to keep.
    new = {"type": "identify", "messageId": "i-3", "traits": {"email": "bo@acme.example", "title": "CFO"}}
    assert send(page, "identify", new).status_code == 200
    assert Lead.objects.get(email="bo@acme.example").title == "CFO"
    # A key kept on a server still changes what it says.
    assert send(server, "identify", {"type": "identify", "messageId": "i-4", "traits": said}).status_code == 200
    assert Lead.objects.get(email="ana@acme.example").title == "CEO"


def test_a_public_key_puts_no_one_in_a_companys_account() -> None:
    """A company's id is another system's, as a lead's external id is: from a page,
    anyone could take the people of a company out of its account."""
    page = segment_client(public=True)
    send(
        segment_client(public=False), "identify", {"type": "identify", "messageId": "i-0", "userId": "ana@acme.example"}
    )
    account = Lead.objects.get(email="ana@acme.example").account_id
    assert account is not None  # by its email's domain

    group = {"type": "group", "messageId": "g-1", "userId": "ana@acme.example", "groupId": "rival-1"}
    refused = send(page, "group", group)
    identify = {
        "type": "identify",
        "messageId": "i-1",
        "userId": "ana@acme.example",
        "traits": {"company": {"id": "rival-1", "name": "Rival"}},
        "context": {"groupId": "rival-1"},
    }
    answer = send(page, "batch", {"batch": [group, identify]})

    assert refused.status_code == 400
    assert "company's account" in refused.json()["errors"]["groupId"][0]
    assert answer.json()["identified"] == 1
    assert [r["index"] for r in answer.json()["rejected"]] == [0]
    ana = Lead.objects.get(email="ana@acme.example")
    assert (ana.account_id, ana.account_explicit) == (account, False)


def test_a_public_key_sends_only_event_types_leadflow_knows() -> None:
    page, server = segment_client(public=True), segment_client(public=False)
    made_up = {"type": "track", "messageId": "t-1", "userId": "ana@example.com", "event": "Free Money"}

    refused = send(page, "track", made_up)

    assert refused.status_code == 400
    assert "'free_money' is not one of them" in refused.json()["errors"]["event"][0]
    assert not Interaction.objects.exists()
    assert not EventType.objects.filter(key="free_money").exists()
    # Built-in types and Segment's names for them go through; a type a server sent first too.
    assert send(page, "track", track(1, "ana@example.com")).status_code == 200
    assert send(server, "track", {**made_up, "messageId": "t-2"}).status_code == 200
    assert send(page, "track", {**made_up, "messageId": "t-3"}).status_code == 200
    assert Interaction.objects.count() == 3


def test_a_public_key_makes_no_lead_from_an_id_alone() -> None:
    """A page's tracks carry the site's own user id, which is no lead's external id: the
    event counts for the visitor (tied to the lead by its identify), or is refused."""
    page = segment_client(public=True)
    traits = {"email": "ana@example.com"}
    identify = {"type": "identify", "messageId": "i-1", "userId": "u-42", "anonymousId": "v-1", "traits": traits}
    assert send(page, "identify", identify).status_code == 200

    with_visitor = send(page, "track", {**track(1, "u-42"), "anonymousId": "v-1"})
    alone = send(page, "track", track(2, "u-42"))

    assert with_visitor.status_code == 200
    assert alone.status_code == 400
    assert "makes no lead from an id alone" in alone.json()["errors"]["userId"][0]
    assert not Lead.objects.filter(external_id="u-42").exists()
    ana = Lead.objects.get(email="ana@example.com")
    assert list(Interaction.objects.values_list("lead_id", flat=True)) == [ana.pk]
    # An id a lead has (given by a server) names that lead.
    ana.external_id = "crm-7"
    ana.save(update_fields=["external_id"])
    assert send(page, "track", track(3, "crm-7")).status_code == 200
    assert Interaction.objects.filter(lead=ana).count() == 2


def test_a_public_key_names_no_new_account_after_its_company_trait() -> None:
    """A server's identify making the first lead of a domain names the account after its
    company; from a page, the first to send would name a company's account."""
    page = segment_client(public=True)
    traits = {"email": "ana@nueva.example", "company": "Estafa S.L."}

    assert send(page, "identify", {"type": "identify", "messageId": "i-1", "traits": traits}).status_code == 200

    ana = Lead.objects.select_related("account").get(email="ana@nueva.example")
    assert ana.company == "Estafa S.L."  # the lead's own field, empty before, is filled
    assert ana.account is not None
    assert ana.account.name == "nueva.example"


def test_a_public_key_cannot_take_the_ids_a_server_sends_its_events_with() -> None:
    # A server's ids are often guessable ("order-1042"): sent first from a page, one made
    # the server's own event a repeat, dropped however different it was.
    server = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {api_key_issue(name='Backend').key}")
    page = segment_client(public=True)
    taken = {"type": "track", "messageId": "order-1042", "userId": "eve@example.com", "event": "Email Link Clicked"}

    assert send(page, "track", taken).json()["accepted"] == 1
    answer = server.post(
        "/api/v1/events",
        json.dumps({"id": "order-1042", "type": "webinar", "lead": {"email": "ceo@example.com"}}),
        content_type="application/json",
    )

    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert Interaction.objects.get(lead__email="ceo@example.com").type == "webinar"


def test_a_public_keys_message_sent_again_is_stored_once() -> None:
    page = segment_client(public=True)
    message = {"type": "track", "messageId": "ajs-" + "9" * 196, "userId": "ana@example.com", "event": "Email Opened"}

    first, again = send(page, "track", message).json(), send(page, "track", message).json()

    assert (first["accepted"], again["accepted"], again["duplicates"]) == (1, 0, 1)
    assert Interaction.objects.count() == 1


def test_a_visitor_tied_to_a_lead_brings_its_interactions_to_the_leads_count(limits: dict[str, list[str]]) -> None:
    """A visitor id per handful of messages, each identified as the same lead in turn, beat
    the lead's limit: every visitor had a count of its own, and all their interactions moved
    to the lead. Tying a visitor to a lead now counts what moves with it."""
    limits["lead"] = ["3/h"]
    page = segment_client(public=True)

    def clicks(visitor: str, n: int) -> list[dict[str, Any]]:
        return [
            {"type": "track", "messageId": f"c-{visitor}-{k}", "anonymousId": visitor, "event": "Email Link Clicked"}
            for k in range(n)
        ]

    def identify(visitor: str, email: str) -> dict[str, Any]:
        return {"type": "identify", "messageId": f"i-{visitor}", "anonymousId": visitor, "traits": {"email": email}}

    assert send(page, "batch", {"batch": clicks("v-1", 2)}).json()["accepted"] == 2
    assert send(page, "identify", identify("v-1", "ana@example.com")).json()["identified"] == 1
    assert send(page, "batch", {"batch": clicks("v-2", 3)}).json()["accepted"] == 3
    refused = send(page, "identify", identify("v-2", "ana@example.com"))
    assert refused.status_code == 429
    assert refused.json()["success"] is False
    assert Interaction.objects.filter(lead__email="ana@example.com").count() == 2
    assert Interaction.objects.filter(visitor__key="v-2", lead__isnull=True).count() == 3

    # In one batch: the visitor's clicks count for the lead the batch ties it to.
    body = send(page, "batch", {"batch": [*clicks("v-3", 3), identify("v-3", "bo@example.com")]}).json()
    assert (body["accepted"], body["identified"]) == (2, 1)
    assert [r["index"] for r in body["rejected"]] == [2]
    assert body["rejected"][0]["errors"]["anonymousId"][0].startswith("too many messages for this lead")
    assert Interaction.objects.filter(lead__email="bo@example.com").count() == 2

    # An event naming the lead and the visitor ties it too, and counts what moves.
    assert send(page, "batch", {"batch": clicks("v-4", 3)}).json()["accepted"] == 3
    assert send(page, "track", track(1, "zoe@example.com")).status_code == 200
    tie = {**clicks("v-4", 4)[3], "userId": "zoe@example.com"}
    body = send(page, "batch", {"batch": [tie, track(1, "max@example.com")]}).json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [0]
    assert body["rejected"][0]["errors"]["anonymousId"][0].startswith("too many messages for this lead")
    assert Interaction.objects.filter(lead__email="zoe@example.com").count() == 1


def _clicked(client: Client, message_id: str, **times: str) -> datetime:
    """When Leadflow keeps that an Email Link Clicked, sent with ``times``, happened."""
    message = {"type": "track", "messageId": message_id, "userId": "ana@example.com", "event": "Email Link Clicked"}
    answer = send(client, "track", {**message, **times})
    assert (answer.status_code, answer.json()["accepted"]) == (200, 1), answer.json()
    return Interaction.objects.get(idempotency_key__endswith=message_id).occurred_at


def test_a_public_key_dates_its_events_no_earlier_than_ten_minutes_before_they_arrive() -> None:
    """Anyone can send with the key: a click dated 1970, or last month, would land where
    reports, decay and replays read the past. A key kept on a server still dates its events."""
    page, server = segment_client(public=True), segment_client(public=False)
    now = datetime.now(UTC)

    long_ago = _clicked(page, "p-1970", timestamp="1970-01-01T00:00:00Z")
    last_month = _clicked(page, "p-month", timestamp=(now - timedelta(days=30)).isoformat())
    ahead = _clicked(page, "p-ahead", timestamp=(now + timedelta(hours=20)).isoformat())
    # A time the browser SDK stamps and sends within minutes is kept, corrected for the
    # device's clock (an hour ahead here) with sentAt.
    stamped, device = now - timedelta(minutes=3), timedelta(hours=1)
    batched = _clicked(page, "p-batched", timestamp=(stamped + device).isoformat(), sentAt=(now + device).isoformat())
    on_server = _clicked(server, "s-1970", timestamp="1970-01-01T00:00:00Z")

    after = datetime.now(UTC)
    assert now - timedelta(minutes=10) <= long_ago <= after - timedelta(minutes=10)
    assert now - timedelta(minutes=10) <= last_month <= after - timedelta(minutes=10)
    assert now <= ahead <= after
    assert abs(batched - stamped) < timedelta(seconds=5)
    assert on_server == datetime(1970, 1, 1, tzinfo=UTC)


def test_a_public_keys_queue_sent_again_keeps_its_order() -> None:
    """A browser's queue sent again after a while (offline, or retried) is dated the window's
    start, and the ones the SDK stamped later after it: its page view stays before its form."""
    page = segment_client(public=True)
    now = datetime.now(UTC)
    queued = [
        {"type": "page", "messageId": "q-1", "anonymousId": "v-1", "timestamp": (now - timedelta(hours=5)).isoformat()},
        {
            "type": "track",
            "messageId": "q-2",
            "anonymousId": "v-1",
            "event": "Form Submitted",
            "timestamp": (now - timedelta(minutes=4)).isoformat(),
        },
    ]

    assert send(page, "batch", {"batch": queued}).json()["accepted"] == 2

    after = datetime.now(UTC)
    view, form = (Interaction.objects.get(type=kind).occurred_at for kind in ("page_view", "form_submit"))
    assert now - timedelta(minutes=10) <= view <= after - timedelta(minutes=10)
    assert view < form
    assert abs(form - (now - timedelta(minutes=4))) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("times", "field"),
    [({"timestamp": "yesterday"}, "timestamp"), ({"timestamp": "2026-11-24T10:00:00Z", "sentAt": 12}, "sentAt")],
)
def test_a_public_keys_time_that_is_no_time_is_still_refused_naming_it(times: dict[str, Any], field: str) -> None:
    message = {"type": "track", "messageId": "m-1", "userId": "ana@example.com", "event": "Email Link Clicked"}

    answer = send(segment_client(public=True), "track", {**message, **times})

    assert answer.status_code == 400
    assert list(answer.json()["errors"]) == [field]
    assert not Interaction.objects.exists()


# Time zones are read from disk as they are drawn: slow on a busy machine, not a failure.
@hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    timestamp=st.datetimes(timezones=st.timezones()),
    device_ahead=st.none() | st.timedeltas(min_value=timedelta(days=-3000), max_value=timedelta(days=3000)),
)
def test_whatever_time_a_page_gives_its_event_happened_in_the_ten_minutes_before_it_arrived(
    timestamp: datetime, device_ahead: timedelta | None
) -> None:
    received = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    message: dict[str, Any] = {"type": "page", "messageId": "p-1", "anonymousId": "v-1"}
    message["timestamp"] = timestamp.isoformat()
    if device_ahead is not None:
        message["sentAt"] = (received + device_ahead).isoformat()

    outcome = messages_check([message], {}, received, {}, companies=False, from_a_page=True)

    if outcome.events:
        [event] = outcome.events
        assert received - PAGE_TIME_WINDOW <= event.occurred_at <= received
        assert event.occurred_at.utcoffset() == timedelta(0)
    else:  # only a correction past any date there can be
        assert list(outcome.rejected[0]["errors"]) == ["sentAt"]


def test_a_public_keys_campaign_is_one_the_model_defines() -> None:
    """A page's track set ``properties.campaign`` to anything (a formula for a spreadsheet,
    a made-up key), which the Campaigns report showed as not defined and took as the lead's
    last touch; a tracked form refuses the property. A key used in web pages now sends only
    the campaigns the model defines, and is refused naming the property otherwise."""
    Campaign.objects.create(key="spring-sale", name="Spring sale")
    page, server = segment_client(public=True), segment_client(public=False)

    def clicked(message_id: str, campaign: object) -> dict[str, Any]:
        return {**track(0, "ana@example.com"), "messageId": message_id, "properties": {"campaign": campaign}}

    refused = send(page, "track", clicked("t-1", '=HYPERLINK("https://evil.example","x")'))
    assert refused.status_code == 400
    assert "is not one the model defines" in refused.json()["errors"]["properties.campaign"][0]
    body = send(
        page,
        "batch",
        {"batch": [clicked("t-2", "summer"), clicked("t-3", ["spring-sale"]), clicked("t-4", "spring-sale")]},
    )
    assert (body.json()["accepted"], [r["index"] for r in body.json()["rejected"]]) == (1, [0, 1])
    assert send(server, "track", clicked("t-5", "summer")).status_code == 200, "a server names its own campaigns"
    assert sorted(i.properties["campaign"] for i in Interaction.objects.all()) == ["spring-sale", "summer"]


@pytest.mark.parametrize("name", ["delivery", "form", "sequence", "source", "step"])
def test_a_public_key_sets_no_property_only_leadflow_sets(name: str) -> None:
    """A page's track could say it was nurture's email (``sequence``, ``step``, ``delivery``),
    a tracked form's post (``form``) or where it came from (``source``): a rule testing an
    email_click's sequence scored it, and the lead's timeline and the sales queue showed it,
    though a tracked form refuses those properties. A key used in web pages is now refused
    naming the property, whatever it holds, and nothing of the message is stored; a key
    kept on a server still sets them."""
    page, server = segment_client(public=True), segment_client(public=False)
    message = {**track(0, "ana@example.com"), "properties": {name: "welcome", "plan": "family"}}

    refused = send(page, "track", message)

    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == [f"properties.{name}"]
    assert "Leadflow sets it" in refused.json()["errors"][f"properties.{name}"][0]
    assert not Interaction.objects.exists()
    assert not Lead.objects.exists()
    assert send(server, "track", message).status_code == 200
    assert [i.properties[name] for i in Interaction.objects.all()] == ["welcome"]


def test_a_public_keys_message_is_refused_naming_each_property_only_leadflow_sets() -> None:
    """A defined campaign beside a step is still refused, naming the step alone; the
    batch's other messages go on."""
    Campaign.objects.create(key="spring-sale", name="Spring sale")
    page = segment_client(public=True)
    forged = {"campaign": "spring-sale", "sequence": "welcome", "step": 2, "delivery": 1}
    batch = [
        {**track(1, "ana@example.com"), "properties": forged},
        {**track(2, "ana@example.com"), "properties": {"campaign": "spring-sale"}},
    ]

    body = send(page, "batch", {"batch": batch}).json()

    assert body["accepted"] == 1
    assert [(r["index"], sorted(r["errors"])) for r in body["rejected"]] == [
        (0, ["properties.delivery", "properties.sequence", "properties.step"])
    ]
    assert [i.properties for i in Interaction.objects.all()] == [
        {"campaign": "spring-sale", "event": "Email Link Clicked"}
    ]


@pytest.mark.parametrize("public", [True, False])
def test_traits_named_as_the_leads_own_fields_are_no_custom_attributes(public: bool) -> None:
    """An identify's traits lifecycle_stage, owner and fit_score were kept as custom
    attributes of those names (columns of the leads' export beside the fields themselves).
    Such a trait, in either spelling, is left out from any key, and the rest of the
    identify kept: a 400 lost every trait, as Segment's senders never send it again."""
    client = segment_client(public=public)
    traits = ("lifecycle_stage", "lifecycleStage", "owner", "Owner", "fit_score", "engagement_score", "external_id")
    message = {
        "type": "identify",
        "messageId": "i-1",
        "traits": {"email": "ana@example.com", "firstName": "Ana", "plan": "pro", **dict.fromkeys(traits, "x")},
    }

    assert send(client, "identify", message).status_code == 200

    lead = Lead.objects.get()
    assert (lead.first_name, lead.attributes, lead.lifecycle_stage, lead.owner_id) == (
        "Ana",
        {"plan": "pro"},
        "lead",
        None,
    )
