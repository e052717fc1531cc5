"""Each trigger, both ways and on every crossing; conditions on the lead's attributes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from intake.api_keys import api_key_issue
from routing import sales, services
from routing.models import ActionRun, QueueItem, RoutingRule, check_conditions
from routing.triggers import Event, EventKind, RuleTrigger, Trigger, applies, fires, watched_scores
from scoring import services as scoring
from scoring.models import GroupTransition, Lead, ScoreGroup
from scoring.rules import Condition, Operator
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.factories import RepFactory, TeamFactory, adjust, rule

# --- pure ---------------------------------------------------------------------------------


def score(previous: int, total: int, from_group: int | None = None, to_group: int | None = None) -> Event:
    return Event(EventKind.SCORE, from_group, to_group, previous, total)


def stage(before: str, after: str) -> Event:
    return Event(EventKind.STAGE, from_stage=before, to_stage=after)


def test_group_triggers_fire_on_the_way_in_and_the_way_out_only() -> None:
    enters, leaves = RuleTrigger(Trigger.ENTERS_GROUP, group=2), RuleTrigger(Trigger.LEAVES_GROUP, group=2)
    assert fires(enters, score(50, 65, 1, 2))
    assert fires(enters, score(90, 70, 3, 2))  # entered from above
    assert not fires(leaves, score(90, 70, 3, 2))
    assert fires(leaves, score(65, 45, 2, 1))
    assert fires(leaves, score(65, 85, 2, 3))  # left upwards
    assert not fires(enters, score(65, 45, 2, 1))
    # Other kinds of event never fire group triggers.
    assert not fires(enters, stage("lead", "mql"))
    assert not fires(leaves, Event(EventKind.QUALIFIED))


@given(previous=st.integers(-50, 150), total=st.integers(-50, 150), n=st.integers(-50, 150))
def test_a_threshold_fires_exactly_when_it_is_crossed_that_way(previous: int, total: int, n: int) -> None:
    rises = fires(RuleTrigger(Trigger.SCORE_RISES_TO, threshold=n), score(previous, total))
    falls = fires(RuleTrigger(Trigger.SCORE_FALLS_BELOW, threshold=n), score(previous, total))
    assert rises == (previous < n <= total)
    assert falls == (total < n <= previous)
    assert not (rises and falls)
    if rises or falls:
        assert n in watched_scores([RuleTrigger(Trigger.SCORE_RISES_TO, threshold=n)])


def test_threshold_borders() -> None:
    rises = RuleTrigger(Trigger.SCORE_RISES_TO, threshold=60)
    falls = RuleTrigger(Trigger.SCORE_FALLS_BELOW, threshold=60)
    assert fires(rises, score(59, 60))  # reaching N is rising to it
    assert not fires(rises, score(60, 75))  # already there
    assert fires(falls, score(60, 59))
    assert not fires(falls, score(59, 10))  # already below
    assert not fires(rises, Event(EventKind.SCORE, previous_total=None, total=70))


def test_stage_triggers_any_change_or_one_stage() -> None:
    any_change, to_sql = RuleTrigger(Trigger.STAGE_CHANGES), RuleTrigger(Trigger.STAGE_CHANGES, stage="sql")
    assert fires(any_change, stage("lead", "mql"))
    assert not fires(to_sql, stage("lead", "mql"))
    assert fires(to_sql, stage("mql", "sql"))
    assert not fires(any_change, stage("sql", "sql"))
    assert not fires(any_change, score(10, 90, None, 1))


def test_sales_verdicts_fire_their_own_triggers() -> None:
    qualified, disqualified = RuleTrigger(Trigger.QUALIFIED), RuleTrigger(Trigger.DISQUALIFIED)
    assert fires(qualified, Event(EventKind.QUALIFIED))
    assert not fires(qualified, Event(EventKind.DISQUALIFIED))
    assert fires(disqualified, Event(EventKind.DISQUALIFIED))
    assert not fires(disqualified, Event(EventKind.QUALIFIED))


def test_conditions_use_the_scoring_operators() -> None:
    iberian_retail = RuleTrigger(
        Trigger.QUALIFIED,
        conditions=(
            Condition("country", Operator.ONE_OF, ["Spain", "Portugal"]),
            Condition("company_size", Operator.GTE, 50),
            Condition("attributes.plan", Operator.EQUALS, "pro"),
        ),
    )
    event = Event(EventKind.QUALIFIED)
    good = {"country": "spain", "company_size": 200, "attributes.plan": "Pro"}
    assert applies(iberian_retail, event, good)
    assert not applies(iberian_retail, event, {**good, "country": "France"})
    assert not applies(iberian_retail, event, {**good, "company_size": 10})
    assert not applies(iberian_retail, event, {key: v for key, v in good.items() if key != "attributes.plan"})
    assert not applies(iberian_retail, Event(EventKind.DISQUALIFIED), good)


def test_watched_scores_are_the_thresholds_of_threshold_rules() -> None:
    rules = [
        RuleTrigger(Trigger.SCORE_RISES_TO, threshold=60),
        RuleTrigger(Trigger.SCORE_FALLS_BELOW, threshold=30),
        RuleTrigger(Trigger.SCORE_FALLS_BELOW, threshold=60),
        RuleTrigger(Trigger.ENTERS_GROUP, group=1, threshold=99),  # not a threshold trigger
    ]
    assert watched_scores(rules) == {30, 60}


# --- through scoring's outbox -----------------------------------------------------------


def tags(lead: Lead) -> list[str]:
    lead.refresh_from_db()
    return list((lead.attributes or {}).get("tags", []))


def runs(made: RoutingRule) -> int:
    return ActionRun.objects.filter(action__rule=made).count()


@pytest.fixture
def groups() -> dict[str, ScoreGroup]:
    return {
        "nurture": ScoreGroupFactory.create(key="nurture", min_score=40),
        "frequent": ScoreGroupFactory.create(key="frequent", min_score=60, leave_below=55),
        "preferential": ScoreGroupFactory.create(key="preferential", min_score=80, leave_below=75),
    }


@pytest.mark.django_db
def test_group_rules_fire_both_ways_on_every_crossing_and_not_while_hovering(groups: dict[str, ScoreGroup]) -> None:
    frequent = groups["frequent"]
    enters = rule("enters_group", {"kind": "add_tag", "tag": "in"}, group=frequent)
    leaves = rule("leaves_group", {"kind": "add_tag", "tag": "out"}, group=frequent)
    lead = LeadFactory.create()

    adjust(lead, 65)  # into frequent
    services.transitions_route()
    assert (runs(enters), runs(leaves)) == (1, 0)
    adjust(lead, -8)  # 57: inside the hysteresis band, no crossing
    services.transitions_route()
    assert (runs(enters), runs(leaves)) == (1, 0)
    adjust(lead, 30)  # 87: leaves frequent upwards, for preferential
    services.transitions_route()
    assert (runs(enters), runs(leaves)) == (1, 1)
    adjust(lead, -17)  # 70: back down into frequent from above
    services.transitions_route()
    assert (runs(enters), runs(leaves)) == (2, 1)
    adjust(lead, -30)  # 40: down into nurture
    services.transitions_route()
    assert (runs(enters), runs(leaves)) == (2, 2)
    assert sorted(tags(lead)) == ["in", "out"]
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_score_threshold_rules_fire_on_each_crossing_of_a_watched_score() -> None:
    rises = rule("score_rises_to", {"kind": "add_tag", "tag": "hot"}, threshold=60)
    falls = rule("score_falls_below", {"kind": "add_tag", "tag": "cooled"}, threshold=60)
    lead = LeadFactory.create()

    adjust(lead, 59)
    adjust(lead, 1)  # 60: rises to 60 (no score groups at all)
    adjust(lead, 10)  # 70: nothing crossed
    adjust(lead, -11)  # 59: falls below
    adjust(lead, 5)  # 64: rises again
    services.transitions_route()

    assert (runs(rises), runs(falls)) == (2, 1)
    events = GroupTransition.objects.filter(lead=lead).order_by("id")
    assert [(e.previous_total, e.total_score, e.direction) for e in events] == [
        (59, 60, "up"),
        (70, 59, "down"),
        (59, 64, "up"),
    ]


@pytest.mark.django_db
def test_the_watched_scores_follow_the_active_rules() -> None:
    rises = rule("score_rises_to", {"kind": "add_tag", "tag": "hot"}, threshold=60)
    RoutingRule.objects.filter(pk=rises.pk).update(active=False)
    services.score_watches_sync()
    lead = LeadFactory.create()
    adjust(lead, 70)
    assert not GroupTransition.objects.filter(lead=lead).exists()  # nobody watches 60 any more


@pytest.fixture
def api() -> Client:
    key = api_key_issue(name="CRM", scopes=["leads:write"]).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.mark.django_db
def test_stage_rules_fire_on_changes_from_the_api(api: Client) -> None:
    any_change = rule("stage_changes", {"kind": "add_tag", "tag": "moved"})
    to_sql = rule("stage_changes", {"kind": "add_tag", "tag": "sql"}, stage="sql")
    lead = LeadFactory.create(email="ana@shop.example")

    def post(stage: str) -> None:
        body = {"email": "ana@shop.example", "lifecycle_stage": stage}
        response = api.post("/api/v1/leads", body, content_type="application/json")
        assert response.status_code in (200, 201), response.content

    post("mql")
    services.transitions_route()
    assert (runs(any_change), runs(to_sql)) == (1, 0)
    post("mql")  # no change: no event
    post("sql")
    services.transitions_route()
    assert (runs(any_change), runs(to_sql)) == (2, 1)
    assert sorted(tags(lead)) == ["moved", "sql"]
    change = GroupTransition.objects.filter(lead=lead, kind="stage").latest("id")
    assert (change.from_stage, change.to_stage, change.cause) == ("mql", "sql", "update")


@pytest.mark.django_db
def test_a_lead_created_at_a_stage_fires_the_stage_rules(api: Client) -> None:
    to_sql = rule("stage_changes", {"kind": "add_tag", "tag": "sql"}, stage="sql")
    body = {"email": "new@shop.example", "lifecycle_stage": "sql"}
    assert api.post("/api/v1/leads", body, content_type="application/json").status_code == 201
    scoring.lead_upsert(email="plain@shop.example")  # the default stage: nothing changed

    services.transitions_route()

    assert runs(to_sql) == 1
    assert tags(Lead.objects.get(email="new@shop.example")) == ["sql"]
    assert not GroupTransition.objects.filter(lead__email="plain@shop.example").exists()


@pytest.mark.django_db
def test_stage_rules_fire_on_changes_in_the_admin(admin_user: Any) -> None:
    to_sql = rule("stage_changes", {"kind": "add_tag", "tag": "sql"}, stage="sql")
    lead = LeadFactory.create(lifecycle_stage="mql")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    url = reverse("admin:scoring_lead_change", args=[lead.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update({"lifecycle_stage": "sql", "attributes": "{}", "email": lead.email})

    assert client.post(url, data).status_code == 302
    services.transitions_route()

    assert runs(to_sql) == 1
    change = GroupTransition.objects.get(lead=lead, kind="stage")
    assert (change.from_stage, change.to_stage, change.cause) == ("mql", "sql", "admin")


@pytest.mark.django_db
def test_a_set_stage_action_fires_the_stage_rules_in_turn(groups: dict[str, ScoreGroup]) -> None:
    rule("enters_group", {"kind": "set_stage", "stage": "mql"}, group=groups["frequent"])
    to_mql = rule("stage_changes", {"kind": "add_tag", "tag": "mql"}, stage="mql")
    lead = LeadFactory.create()
    adjust(lead, 65)

    # The crossings (through nurture into frequent), then the change of stage it caused.
    assert services.transitions_route() == 3

    assert runs(to_mql) == 1
    change = GroupTransition.objects.get(lead=lead, kind="stage")
    assert (change.from_stage, change.to_stage, change.cause) == ("lead", "mql", "routing")
    assert tags(lead) == ["mql"]


@pytest.mark.django_db
def test_sales_verdicts_fire_the_qualified_and_disqualified_rules() -> None:
    qualified = rule("qualified", {"kind": "add_tag", "tag": "qualified"})
    disqualified = rule("disqualified", {"kind": "add_tag", "tag": "disqualified"})
    rep = RepFactory.create(team=TeamFactory.create(assignment="round_robin"))
    good, bad = LeadFactory.create(), LeadFactory.create()
    for lead in (good, bad):
        services.leads_queue(team=rep.team, lead_ids=[lead.pk], now=lead.created_at)
    items = {item.lead_id: item for item in QueueItem.objects.all()}

    sales.item_claim(item_id=items[good.pk].pk, user=rep.user)
    sales.item_act(
        item_id=items[good.pk].pk,
        user=rep.user,
        kind="qualified",
        bant=sales.Bant(budget="yes", authority="CTO", need="stock", timeline="Q2"),
    )
    sales.item_act(item_id=items[bad.pk].pk, user=rep.user, kind="rejected", reason="a competitor")
    services.transitions_route()

    assert (runs(qualified), runs(disqualified)) == (1, 1)
    assert tags(good) == ["qualified"]
    assert tags(bad) == ["disqualified"]
    event = GroupTransition.objects.get(lead=bad)
    assert (event.kind, event.detail) == ("disqualified", "a competitor")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("condition", "matches"),
    [
        ({"field": "country", "operator": "one_of", "value": ["Spain", "Portugal"]}, "es"),
        ({"field": "industry", "operator": "equals", "value": "Retail"}, "es"),
        ({"field": "company_size", "operator": "gte", "value": 100}, "fr"),
        ({"field": "attributes.plan", "operator": "equals", "value": "pro"}, "fr"),
        ({"field": "country", "operator": "not_one_of", "value": ["Spain"]}, "fr"),
    ],
)
def test_conditions_on_lead_attributes_pick_the_leads(
    groups: dict[str, ScoreGroup], condition: dict[str, Any], matches: str
) -> None:
    made = rule("enters_group", {"kind": "add_tag", "tag": "picked"}, group=groups["frequent"], conditions=[condition])
    assert check_conditions([condition]) == []  # a condition a marketer could save
    leads = {
        "es": LeadFactory.create(country="Spain", industry="retail", company_size=20, attributes={"plan": "free"}),
        "fr": LeadFactory.create(country="France", industry="Banking", company_size=500, attributes={"plan": "Pro"}),
    }
    for lead in leads.values():
        adjust(lead, 65)

    services.transitions_route()

    assert {name for name, lead in leads.items() if tags(lead)} == {matches}
    assert runs(made) == 1
