"""Outcomes a CRM reports over the API (opportunity, won with its amount, lost with its
reason), recorded as the sales page records them; and a lead's score history, paged."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.api_keys import api_key_issue
from routing import sales
from routing.models import Outcome, QueueItem
from scoring.models import GroupTransition, Lead, ScoreEntry
from tests.conftest import at_once
from tests.factories import InteractionFactory, LeadFactory, ScoringRuleFactory
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, adjust, rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm() -> Client:
    key = api_key_issue(name="CRM", scopes=["outcomes:write", "leads:read"]).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


def report(client: Client, lead: Lead | int, body: Any) -> Any:
    lead_id = lead if isinstance(lead, int) else lead.pk
    return client.post(f"/api/v1/leads/{lead_id}/outcomes", json.dumps(body), content_type="application/json")


def report_by_ref(client: Client, body: Any) -> Any:
    return client.post("/api/v1/outcomes", json.dumps(body), content_type="application/json")


def test_a_won_deal_makes_a_lead_in_no_queue_a_customer_with_its_amount(crm: Client) -> None:
    lead = LeadFactory.create(email="ada@example.com", lifecycle_stage="sql")

    response = report(crm, lead, {"kind": "won", "amount": "12500.50", "client_id": "deal-88:won"})

    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["amount"], body["created"], body["lifecycle_stage"]) == (
        "won",
        "12500.50",
        True,
        "customer",
    )
    outcome = Outcome.objects.get()
    assert (outcome.item, outcome.amount, outcome.client_id) == (None, Decimal("12500.50"), "deal-88:won")
    assert outcome.source.startswith("api:")
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "customer"
    # Routing hears of it as of any change of stage.
    stage = GroupTransition.objects.get(lead=lead, kind="stage")
    assert (stage.from_stage, stage.to_stage, stage.cause) == ("sql", "customer", "api")


@pytest.mark.parametrize(
    ("language", "amount", "kept"),
    [
        ("es", "S/ 1.000,00", "1000.00"),
        ("es", "PEN 12500", "12500.00"),
        ("en", "US$ 12,500.50", "12500.50"),
        ("en", "12500.50 USD", "12500.50"),
        ("en", "€900", "900.00"),
        # Figures a program writes are read as before, in either language.
        ("es", "12500.5", "12500.50"),
        ("en", "0", "0.00"),
    ],
)
def test_a_won_amount_may_carry_its_currency_as_on_the_sales_page(
    crm: Client, language: str, amount: str, kept: str
) -> None:
    """As the sales page reads it, in the site's language (LEADFLOW_LANGUAGE, whatever the
    caller's): the currency's sign or code before or after the figure is no part of it."""
    lead = LeadFactory.create()

    with override_settings(LANGUAGE_CODE=language):
        response = crm.post(
            f"/api/v1/leads/{lead.pk}/outcomes",
            json.dumps({"kind": "won", "amount": amount}),
            content_type="application/json",
            headers={"Accept-Language": "en" if language == "es" else "es"},
        )

    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == kept
    assert Outcome.objects.get().amount == Decimal(kept)


@pytest.mark.parametrize(("amount", "kept"), [(1250.5, "1250.50"), (980, "980.00"), (0, "0.00"), (1e3, "1000.00")])
def test_a_won_amount_may_be_a_json_number(crm: Client, amount: float, kept: str) -> None:
    response = report(crm, LeadFactory.create(), {"kind": "won", "amount": amount})

    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == kept
    assert Outcome.objects.get().amount == Decimal(kept)


@pytest.mark.parametrize(
    ("amount", "told", "code"),
    [
        # DRF read any script's digits, and a minus zero: 123.00 and -0.00 were kept.
        ("\u0661\u0662\u0663", "must be written in the digits 0 to 9.", "invalid"),
        ("\uff11\uff12", "must be written in the digits 0 to 9.", "invalid"),
        ("-0", "must be zero or more, written without a sign.", "min_value"),
        ("-5", "must be zero or more, written without a sign.", "min_value"),
        ("S/ -1", "must be zero or more, written without a sign.", "min_value"),
        ("NaN", "must be a number: NaN and Infinity are none.", "invalid"),
        ("-Infinity", "must be a number: NaN and Infinity are none.", "invalid"),
        ("1e400", 'must be written out ("1000.00"), not with an exponent; or send it as a JSON number.', "invalid"),
        ("1e3", 'must be written out ("1000.00"), not with an exponent; or send it as a JSON number.', "invalid"),
        ("9" * 5000, "at most 999999999999.99.", "max_whole_digits"),
        ("1234567890123.00", "at most 999999999999.99.", "max_whole_digits"),
        ("1,234,567,890,123", "at most 999999999999.99.", "max_whole_digits"),
        ("1250.505", "Ensure that there are no more than 2 decimal places.", "max_decimal_places"),
        ("$ 1,250.5055", "Ensure that there are no more than 2 decimal places.", "max_decimal_places"),
        ("ABC1", 'must be a number such as "12500" or "12500.50", its thousands grouped or not as the site\'s '
         'language writes them ("12,500.50"), with its currency\'s ISO 4217 code or sign before or after it if you '
         'like ("PEN", "S/").', "invalid"),
    ],
)  # fmt: skip
def test_an_amount_sent_as_text_is_read_as_the_sales_page_reads_it_or_refused_saying_why(
    crm: Client, amount: str, told: str, code: str
) -> None:
    response = report(crm, LeadFactory.create(), {"kind": "won", "amount": amount})

    assert response.status_code == 400
    assert response.json() == {"amount": [told], "error_codes": {"amount": [code]}}
    assert not Outcome.objects.exists()


@pytest.mark.parametrize(
    ("amount", "told"),
    [(-0.0, "must be zero or more, written without a sign."), (-1, "Ensure this value is greater than or equal to 0."),
     (12.345, "Ensure that there are no more than 2 decimal places.")],
)  # fmt: skip
def test_a_json_number_that_is_no_amount_is_refused_saying_why(crm: Client, amount: float, told: str) -> None:
    response = report(crm, LeadFactory.create(), {"kind": "won", "amount": amount})

    assert response.status_code == 400
    assert response.json()["amount"] == [told]
    assert not Outcome.objects.exists()


@pytest.mark.parametrize(
    ("number", "told"),
    [("NaN", "NaN is not a JSON number"), ("Infinity", "Infinity is not a JSON number"),
     ("-Infinity", "-Infinity is not a JSON number"), ("1e400", "the number 1e400 is too large to store"),
     ("9" * 5000, f"the number {'9' * 40}… is too long to read (5000 digits)")],
)  # fmt: skip
def test_a_number_json_cannot_hold_is_refused_naming_amount(crm: Client, number: str, told: str) -> None:
    lead = LeadFactory.create()
    response = crm.post(
        f"/api/v1/leads/{lead.pk}/outcomes",
        '{"kind": "won", "amount": ' + number + "}",
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["amount"] == [f"JSON parse error - {told}"]
    assert not Outcome.objects.exists()


def test_an_opportunity_moves_the_stage_and_routing_rules_act_on_it(crm: Client) -> None:
    lead = LeadFactory.create(lifecycle_stage="mql")
    rule("stage_changes", {"kind": "add_tag", "tag": "in-crm"}, stage="opportunity")

    assert report(crm, lead, {"kind": "opportunity", "amount": 900}).status_code == 201

    from routing import services as routing

    routing.transitions_route()
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "opportunity"
    assert lead.attributes.get("tags") == ["in-crm"]


def test_a_customer_stays_a_customer_when_a_new_opportunity_opens(crm: Client) -> None:
    lead = LeadFactory.create(lifecycle_stage="customer")
    assert report(crm, lead, {"kind": "opportunity"}).json()["lifecycle_stage"] == "customer"


def test_an_outcome_closes_the_open_queue_item_and_the_sales_page_moves_on() -> None:
    crm_key = api_key_issue(name="CRM", scopes=["outcomes:write"]).key
    crm = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {crm_key}")
    team = TeamFactory.create()
    rep = RepFactory.create(team=team)
    lead = LeadFactory.create()
    item = QueueItemFactory.create(lead=lead, team=team)
    sales.item_claim(item_id=item.pk, user=rep.user)

    response = report(crm, lead, {"kind": "lost", "reason": "chose a competitor"})

    assert response.status_code == 201
    item.refresh_from_db()
    assert (item.status, item.reason) == (QueueItem.Status.LOST, "chose a competitor")
    lost = Outcome.objects.get(kind="lost")
    assert (lost.item, lost.reason, lost.user) == (item, "chose a competitor", None)
    # The rep's page no longer offers it, and still works.
    page = Client()
    page.force_login(rep.user)
    answer = page.get("/sales/")
    assert answer.status_code == 200
    assert answer.context["queue"].rows == []
    with pytest.raises(sales.ActionRefused, match="lost"):
        sales.item_act(item_id=item.pk, user=rep.user, kind="won")


def test_the_same_client_id_twice_is_recorded_once(crm: Client) -> None:
    lead = LeadFactory.create()
    body: dict[str, Any] = {"kind": "won", "amount": "100", "client_id": "d-1"}
    first = report(crm, lead, body)
    again = report(crm, lead, body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False
    assert again.json()["id"] == first.json()["id"]
    assert Outcome.objects.count() == 1
    assert GroupTransition.objects.filter(lead=lead, kind="stage").count() == 1
    # The same id saying something else is refused, naming it.
    changed = report(crm, lead, {**body, "amount": "200"})
    assert changed.status_code == 400
    assert "client_id" in changed.json()
    # Without a client id, two reports are two outcomes.
    report(crm, lead, {"kind": "opportunity"})
    report(crm, lead, {"kind": "opportunity"})
    assert Outcome.objects.filter(kind="opportunity").count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "closed"}, "kind"),
        ({}, "kind"),
        ({"kind": "won", "amount": "-1"}, "amount"),
        ({"kind": "won", "amount": "1e20"}, "amount"),
        ({"kind": "won", "amount": "1234567890123.00"}, "amount"),
        ({"kind": "won", "amount": "12.345"}, "amount"),
        ({"kind": "won", "amount": "NaN"}, "amount"),
        ({"kind": "won", "amount": True}, "amount"),
        ({"kind": "won", "amount": "S/ -1"}, "amount"),
        ({"kind": "won", "amount": "$ 1,000 PEN"}, "amount"),
        ({"kind": "won", "amount": "12 mil"}, "amount"),
        ({"kind": "won", "amount": "S/ 1.000"}, "amount"),
        ({"kind": "won", "amount": "ABC1"}, "amount"),
        ({"kind": "won", "amount": "No.5"}, "amount"),
        ({"kind": "lost"}, "reason"),
        ({"kind": "lost", "reason": "   "}, "reason"),
        ({"kind": "lost", "reason": "x" * 301}, "reason"),
        ({"kind": "lost", "reason": "no\u0000"}, "reason"),
        ({"kind": "won", "client_id": "x" * 201}, "client_id"),
        ({"kind": "won", "occurred_at": "yesterday"}, "occurred_at"),
        ({"kind": "won", "occurred_at": "2026-11-02T10:00:00"}, "occurred_at"),
        ({"kind": "won", "stage": "customer"}, "stage"),
        ({"kind": "won", "lead": {"email": "a@example.com"}}, "lead"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    crm: Client, body: dict[str, Any], field: str
) -> None:
    lead = LeadFactory.create(lifecycle_stage="sql")
    response = report(crm, lead, body)
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Outcome.objects.exists()
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "sql"


def test_a_body_that_is_not_an_object_is_refused(crm: Client) -> None:
    lead = LeadFactory.create()
    bodies: list[Any] = [[], "won", 3, None]
    for body in bodies:
        assert report(crm, lead, body).status_code == 400


def test_an_unknown_lead_is_404(crm: Client) -> None:
    assert report(crm, 999_999, {"kind": "won"}).status_code == 404
    missing = report_by_ref(crm, {"lead": {"email": "nobody@example.com"}, "kind": "won"})
    assert missing.status_code == 404
    assert "lead.email" in missing.json()
    missing = report_by_ref(crm, {"lead": {"external_id": "crm-0"}, "kind": "won"})
    assert missing.status_code == 404
    assert "lead.external_id" in missing.json()
    assert not Outcome.objects.exists()


def test_the_lead_may_be_named_by_email_or_external_id(crm: Client) -> None:
    by_email = LeadFactory.create(email="ada@example.com")
    by_external = LeadFactory.create(email=None, external_id="crm-4471")

    assert report_by_ref(crm, {"lead": {"email": "Ada@Example.com"}, "kind": "opportunity"}).status_code == 201
    won = report_by_ref(crm, {"lead": {"external_id": "crm-4471"}, "kind": "won", "amount": 980})
    assert won.status_code == 201
    assert won.json()["amount"] == "980.00"
    assert list(Outcome.objects.order_by("pk").values_list("lead_id", "kind")) == [
        (by_email.pk, "opportunity"),
        (by_external.pk, "won"),
    ]
    for bad, field in [
        ({"kind": "won"}, "lead"),
        ({"lead": "ada@example.com", "kind": "won"}, "lead"),
        ({"lead": {"email": "not an address"}, "kind": "won"}, "lead.email"),
        ({"lead": {"phone": "1"}, "kind": "won"}, "lead"),
        ({"lead": {"email": "ada@example.com"}, "kind": "maybe"}, "kind"),
    ]:
        response = report_by_ref(crm, bad)
        assert response.status_code == 400, bad
        assert field in response.json(), (bad, response.json())


def test_an_email_and_an_external_id_of_two_different_leads_are_refused_naming_both(crm: Client) -> None:
    ada = LeadFactory.create(email="ada@example.com", external_id="crm-1")
    LeadFactory.create(email="bea@example.com", external_id="crm-2")

    mixed = report_by_ref(crm, {"lead": {"email": "ada@example.com", "external_id": "crm-2"}, "kind": "won"})

    assert mixed.status_code == 400
    body = mixed.json()
    assert body["lead.email"] == ["names a different lead than the external id does; give one lead"]
    assert body["lead.external_id"] == ["names a different lead than the email does; give one lead"]
    assert body["error_codes"] == {"lead.email": ["lead_mismatch"], "lead.external_id": ["lead_mismatch"]}
    assert not Outcome.objects.exists()
    # An email no lead has with a lead's external id is refused alike, as an event is (it
    # answered 404 on the email, as if the external id named no one).
    unknown_email = report_by_ref(crm, {"lead": {"email": "cy@example.com", "external_id": "crm-2"}, "kind": "won"})
    assert (unknown_email.status_code, unknown_email.json()["error_codes"]) == (400, body["error_codes"])
    assert not Outcome.objects.exists()
    # The same lead named both ways, or an email with an external id no lead has, still names it.
    same = report_by_ref(crm, {"lead": {"email": "Ada@example.com", "external_id": "crm-1"}, "kind": "opportunity"})
    assert (same.status_code, same.json()["lead"]) == (201, ada.pk)
    unknown_id = report_by_ref(crm, {"lead": {"email": "ada@example.com", "external_id": "crm-9"}, "kind": "won"})
    assert (unknown_id.status_code, unknown_id.json()["lead"]) == (201, ada.pk)
    # A bad external id beside a good email is named, not ignored.
    bad = report_by_ref(crm, {"lead": {"email": "ada@example.com", "external_id": ""}, "kind": "won"})
    assert (bad.status_code, list(bad.json())) == (400, ["lead.external_id", "error_codes"])


def test_outcomes_need_their_scope() -> None:
    lead = LeadFactory.create()
    key = api_key_issue(name="Site", scopes=["events:write", "leads:write", "leads:read"]).key
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    response = report(client, lead, {"kind": "won"})
    assert response.status_code == 403
    assert response.json()["required_scope"] == "outcomes:write"
    assert not Outcome.objects.exists()


# --- score history ------------------------------------------------------------------


def history(client: Client, lead: Lead, **query: Any) -> Any:
    return client.get(f"/api/v1/leads/{lead.pk}/score-history", query)


def test_score_history_gives_each_row_with_its_cause(crm: Client) -> None:
    lead = LeadFactory.create()
    demo = ScoringRuleFactory.create(name="Asked for a demo")
    interaction = InteractionFactory.create(lead=lead, type="form_submit")
    now = timezone.now()
    ScoreEntry.objects.create(
        lead=lead, dimension="engagement", delta=7, cause="rule", rule=demo, interaction=interaction, occurred_at=now
    )
    ScoreEntry.objects.create(
        lead=lead,
        dimension="engagement",
        delta=-2,
        cause="revised",
        rule=demo,
        interaction=interaction,
        occurred_at=now,
    )
    ScoreEntry.objects.create(lead=lead, dimension="engagement", delta=-1, cause="decay", occurred_at=now)
    Lead.objects.filter(pk=lead.pk).update(engagement_score=4)
    adjust(lead, 5)

    rows = history(crm, lead).json()["results"]

    assert [(r["delta"], r["cause"]) for r in rows] == [(5, "manual"), (-1, "decay"), (-2, "revised"), (7, "rule")]
    assert rows[0]["note"] == "test"
    assert rows[3]["rule"] == {"id": demo.pk, "name": "Asked for a demo"}
    assert rows[3]["interaction"]["id"] == interaction.pk
    assert rows[3]["interaction"]["type"] == "form_submit"
    assert rows[1]["rule"] is None
    assert rows[1]["interaction"] is None


def test_score_history_pages_follow_the_cursor_and_hold_under_new_rows(crm: Client) -> None:
    lead = LeadFactory.create()
    other = LeadFactory.create()
    now = timezone.now()
    ScoreEntry.objects.bulk_create(
        ScoreEntry(lead=lead, dimension="fit", delta=n, cause="manual", occurred_at=now) for n in range(1, 26)
    )
    ScoreEntry.objects.create(lead=other, dimension="fit", delta=100, cause="manual", occurred_at=now)

    first = history(crm, lead, limit=10).json()
    # Rows written between pages (a worker scoring meanwhile) do not shift the next ones.
    ScoreEntry.objects.bulk_create(
        ScoreEntry(lead=lead, dimension="fit", delta=1000 + n, cause="manual", occurred_at=now) for n in range(5)
    )
    second = crm.get(first["next"]).json()
    third = history(crm, lead, limit=10, cursor=second["next_cursor"]).json()

    deltas = [row["delta"] for page in (first, second, third) for row in page["results"]]
    assert deltas == list(range(25, 0, -1))
    assert third["next"] is None
    assert third["next_cursor"] is None
    assert "limit=10" in first["next"]
    # The new rows are on a fresh first page.
    assert [row["delta"] for row in history(crm, lead, limit=5).json()["results"]] == [1004, 1003, 1002, 1001, 1000]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "ten"}, "limit"), ({"cursor": "abc"}, "cursor"),
     ({"cursor": "-5"}, "cursor"), ({"cursor": "9" * 40}, "cursor"), ({"limit": "²"}, "limit")],
)  # fmt: skip
def test_score_history_refuses_bad_paging_naming_the_field(crm: Client, query: dict[str, str], field: str) -> None:
    lead = LeadFactory.create()
    response = history(crm, lead, **query)
    assert response.status_code == 400
    assert field in response.json()


def test_score_history_of_an_unknown_lead_is_404_and_needs_leads_read(crm: Client) -> None:
    assert crm.get("/api/v1/leads/999999/score-history").status_code == 404
    lead = LeadFactory.create()
    key = api_key_issue(name="CRM", scopes=["outcomes:write"]).key
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert history(client, lead).status_code == 403


@pytest.mark.services
def test_the_same_outcome_sent_twice_at_once_is_recorded_once(postgres: None, transactional_db: None) -> None:
    key = api_key_issue(name="CRM", scopes=["outcomes:write"]).key
    leads = [LeadFactory.create() for _ in range(5)]
    for lead in leads:
        body = {"kind": "won", "amount": "50", "client_id": f"deal-{lead.pk}"}

        def send(lead: Lead = lead, body: dict[str, Any] = body) -> int:
            client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
            return int(report(client, lead, body).status_code)

        assert sorted(at_once(send, send, send, timeout=30)) == [200, 200, 201]
        assert Outcome.objects.filter(lead=lead).count() == 1
        assert GroupTransition.objects.filter(lead=lead, kind="stage", to_stage="customer").count() == 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=8,
)
OUTCOME_FIELDS = st.dictionaries(
    st.sampled_from(["kind", "amount", "reason", "client_id", "occurred_at", "lead", "other"]),
    st.one_of(
        st.sampled_from(["won", "lost", "opportunity", "1e400", "-0", "12.345", "NaN", "2026-11-02T10:00:00Z"]),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        JSON_VALUES,
    ),
    max_size=6,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(OUTCOME_FIELDS, JSON_VALUES), by_ref=st.booleans())
def test_no_body_gives_a_server_error(crm: Client, body: Any, by_ref: bool) -> None:
    lead = Lead.objects.filter(email="fuzz@example.com").first() or LeadFactory.create(email="fuzz@example.com")
    if by_ref and isinstance(body, dict):
        body = {**body, "lead": body.get("lead", {"email": "fuzz@example.com"})}
    response = report_by_ref(crm, body) if by_ref else report(crm, lead, body)
    assert response.status_code in {200, 201, 400, 404}, (body, response.content)


def test_an_outcome_at_a_time_zone_offset_postgresql_cannot_hold_is_kept_as_its_instant(crm: Client) -> None:
    # Python reads offsets up to 23:59, PostgreSQL stores at most 15:59: it was a 500.
    lead = LeadFactory.create()
    when = (timezone.now() - timedelta(days=1)).replace(microsecond=0)
    stamp = when.astimezone(timezone.get_fixed_timezone(-(23 * 60 + 59))).isoformat()
    response = report(crm, lead, {"kind": "won", "occurred_at": stamp})
    assert response.status_code == 201, response.content
    assert Outcome.objects.get().at == when


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_lost_outcome_without_a_reason_is_refused_as_required(crm: Client, reason: str | None) -> None:
    """README says a lost outcome requires its reason: the code says so, as DRF's own
    required fields' do, so a client branching on codes knows what to send."""
    lead = LeadFactory.create()
    body: dict[str, Any] = {"kind": "lost"} if reason is None else {"kind": "lost", "reason": reason}

    response = report(crm, lead, body)

    assert response.status_code == 400
    assert response.json()["error_codes"] == {"reason": ["required"]}


def test_score_history_s_cursor_is_any_id_and_nothing_past_the_largest(crm: Client) -> None:
    lead = LeadFactory.create()
    ScoreEntry.objects.create(lead=lead, dimension="fit", delta=5, cause="manual", occurred_at=timezone.now())
    last = history(crm, lead, cursor="9223372036854775807")
    assert (last.status_code, [row["delta"] for row in last.json()["results"]]) == (200, [5])
    for past in ("9223372036854775808", "9" * 20):
        refused = history(crm, lead, cursor=past)
        assert refused.status_code == 400, past
        assert refused.json()["cursor"] == ["must be a whole number from 1 to 9223372036854775807"]
