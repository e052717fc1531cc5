"""A routing rule's page as a marketer uses it: conditions as rows (field, operator, value
typed as in scoring's rules), the lead fields known offered, each action with only the
settings its kind uses, and every problem of a rule reported at once, on its field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from routing import model_file, services
from routing.models import RoutingAction, RoutingCondition, RoutingRule
from scoring import model_file as scoring_file
from scoring import services as scoring
from scoring.models import Lead
from scoring.rules import LEAD_FIELDS
from tests.factories import LeadFactory, ScoreGroupFactory, fit_rule
from tests.routing.factories import adjust, marketer, rule

ADD = "admin:routing_routingrule_add"


def management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def rule_form(conditions: list[dict[str, str]], actions: list[dict[str, str]], **fields: str) -> dict[str, str]:
    """The add form as the browser sends it: the rule, its condition rows and its actions."""
    data = {"name": "Iberian leads", "key": "iberian", "active": "on", "position": "0", "trigger": "qualified"}
    data.update(fields)
    data.update(management("conditions", len(conditions)))
    data.update(management("actions", len(actions)))
    for index, condition in enumerate(conditions):
        data.update({f"conditions-{index}-{name}": value for name, value in condition.items()})
        data.setdefault(f"conditions-{index}-position", str(index))
    for index, action in enumerate(actions):
        data.update({f"actions-{index}-{name}": value for name, value in action.items()})
        data.setdefault(f"actions-{index}-position", str(index))
    return data


@pytest.fixture
def client() -> Client:
    made = Client()
    made.force_login(marketer())
    return made


def tags(lead: Lead) -> list[str]:
    return list(Lead.objects.values_list("attributes", flat=True).get(pk=lead.pk).get("tags", []))


@pytest.mark.django_db
def test_conditions_typed_as_rows_are_stored_and_pick_the_leads(client: Client) -> None:
    frequent = ScoreGroupFactory.create(key="frequent", min_score=60)
    data = rule_form(
        [
            {"field": "country", "operator": "one_of", "value_text": "Spain, Portugal"},
            {"field": "company_size", "operator": "between", "value_text": "10-500"},
            {"field": "attributes.plan", "operator": "equals", "value_text": "pro"},
        ],
        [{"kind": "add_tag", "tag": "iberia"}],
        trigger="enters_group",
        group=str(frequent.pk),
    )
    response = client.post(reverse(ADD), data)
    assert response.status_code == 302, response.context and response.context["errors"]

    made = RoutingRule.objects.get(key="iberian")
    stored = list(made.conditions.values_list("field", "operator", "value"))
    assert stored == [
        ("country", "one_of", ["Spain", "Portugal"]),
        ("company_size", "between", [10, 500]),
        ("attributes.plan", "equals", "pro"),
    ]
    picked = LeadFactory.create(country="Portugal", company_size=40, attributes={"plan": "Pro"})
    too_big = LeadFactory.create(country="Spain", company_size=900, attributes={"plan": "pro"})
    elsewhere = LeadFactory.create(country="France", company_size=40, attributes={"plan": "pro"})
    for lead in (picked, too_big, elsewhere):
        adjust(lead, 65)
    services.transitions_route()
    assert [tags(lead) for lead in (picked, too_big, elsewhere)] == [["iberia"], [], []]

    # The rule's page shows the rows as they were typed.
    page = client.get(reverse("admin:routing_routingrule_change", args=[made.pk])).content.decode()
    assert 'value="Spain, Portugal"' in page
    assert 'value="10 - 500"' in page


@pytest.mark.django_db
def test_every_problem_of_a_rule_is_reported_at_once_and_nothing_is_saved(client: Client) -> None:
    data = rule_form(
        [
            {"field": "industy", "operator": "equals", "value_text": "Toys"},
            {"field": "company_size", "operator": "gt", "value_text": "big"},
            {"field": "country", "operator": "is_set", "value_text": "Spain"},
            {"field": "", "operator": "equals", "value_text": "x"},
        ],
        [
            {"kind": "enroll"},
            {"kind": "add_tag", "tag": ""},
            {"kind": "notify", "tag": "vip", "url": "https://crm.example/hook"},
        ],
        trigger="enters_group",
    )
    response = client.post(reverse(ADD), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"group": ["Choose the score group this trigger watches."]}
    conditions, actions = (f.formset for f in response.context["inline_admin_formsets"])
    assert conditions.errors == [
        {
            "field": [
                f"Unknown lead field 'industy'. Use one of {', '.join(LEAD_FIELDS)}, "
                "or attributes.<name> for a custom attribute."
            ]
        },
        {"value_text": ["'big' is not a number."]},
        {"value_text": ["'is_set' takes no value; leave it empty."]},
        {"field": ["This field is required."]},
    ]
    assert actions.errors == [
        {"sequence": ["Choose the sequence to enroll in."]},
        {"tag": ["Give the tag."]},
        {
            "tag": ["'Notify the owner or team by email' does not use this: leave it empty."],
            "url": ["'Notify the owner or team by email' does not use this: leave it empty."],
        },
    ]
    page = response.content.decode()
    assert "Choose the sequence to enroll in." in page
    assert "&#x27;big&#x27; is not a number." in page
    assert not RoutingRule.objects.exists()
    assert not RoutingCondition.objects.exists()


@pytest.mark.django_db
def test_rows_are_edited_and_deleted_on_the_rules_page(client: Client) -> None:
    made = rule(
        "qualified",
        {"kind": "add_tag", "tag": "x"},
        conditions=[
            {"field": "country", "operator": "one_of", "value": ["Spain"]},
            {"field": "industry", "operator": "equals", "value": "Toys"},
        ],
    )
    first, second = made.conditions.all()
    action = made.actions.get()
    data = rule_form(
        [
            {
                "id": str(first.pk),
                "rule": str(made.pk),
                "field": "country",
                "operator": "not_one_of",
                "value_text": "Spain, France",
            },
            {
                "id": str(second.pk),
                "rule": str(made.pk),
                "field": "industry",
                "operator": "equals",
                "value_text": "Toys",
                "DELETE": "on",
            },
        ],
        [{"id": str(action.pk), "rule": str(made.pk), "kind": "add_tag", "tag": "x"}],
        name=made.name,
        key=made.key,
    )
    data.update(management("conditions", 2, initial=2))
    data.update(management("actions", 1, initial=1))
    response = client.post(reverse("admin:routing_routingrule_change", args=[made.pk]), data)
    assert response.status_code == 302
    assert list(made.conditions.values_list("field", "operator", "value")) == [
        ("country", "not_one_of", ["Spain", "France"])
    ]
    assert made.conditions_pure()[0].value == ["Spain", "France"]


@pytest.mark.django_db
def test_the_page_offers_the_lead_fields_and_the_custom_attributes_seen(client: Client) -> None:
    LeadFactory.create(attributes={"plan": "pro", "seats": 4, "not a name!": 1})
    fit_rule(5, "attributes.goal", "is_set")
    rule(
        "qualified", {"kind": "add_tag", "tag": "x"}, conditions=[{"field": "attributes.region", "operator": "is_set"}]
    )
    page = client.get(reverse(ADD)).content.decode()
    assert '<datalist id="lead-fields">' in page
    assert 'list="lead-fields"' in page  # the condition rows' field box uses it
    offered = page.split('<datalist id="lead-fields">', 1)[1].split("</datalist>", 1)[0]
    for name in ["country", "industry", "company_size", "lifecycle_stage", "email_domain"]:
        assert f'<option value="{name}">' in offered
    for name in ["attributes.plan", "attributes.seats", "attributes.region", "attributes.goal"]:
        assert f'<option value="{name}">' in offered
    assert "not a name" not in offered
    assert '<option value="time_zone">' not in offered  # no rule may test it

    # A team's territories name lead fields too: the same list.
    team_page = client.get(reverse("admin:routing_team_add")).content.decode()
    assert '<datalist id="lead-fields">' in team_page
    assert 'name="territories-__prefix__-field" list="lead-fields"' in team_page


@pytest.mark.django_db
def test_each_kind_tells_the_page_which_settings_it_uses(client: Client) -> None:
    rule("qualified", {"kind": "add_tag", "tag": "x"})
    page = client.get(reverse("admin:routing_routingrule_change", args=[RoutingRule.objects.get().pk]))
    html = page.content.decode()
    assert "routing/rule_actions.js" in html
    assert "data-kind-settings=" in html
    assert "&quot;notify&quot;: [&quot;team&quot;, &quot;message&quot;]" in html
    for name in ["sequence", "team", "user", "stage", "tag", "url", "secret", "message"]:
        assert f'class="form-row field-{name}' in html  # one setting a line, to show or hide


@pytest.mark.django_db
def test_a_webhook_made_another_kind_loses_its_secret(client: Client) -> None:
    made = rule(
        "qualified", {"kind": "webhook", "url": "https://crm.example/hook", "secret": "s3cret-value-long-enough"}
    )
    action = made.actions.get()
    data = rule_form(
        [],
        [{"id": str(action.pk), "rule": str(made.pk), "kind": "add_tag", "tag": "synced", "secret": ""}],
        name=made.name,
        key=made.key,
    )
    data.update(management("actions", 1, initial=1))
    response = client.post(reverse("admin:routing_routingrule_change", args=[made.pk]), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    action.refresh_from_db()
    assert (action.kind, action.tag, action.url, action.secret) == ("add_tag", "synced", "", "")


# --- the model file --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_file_refuses_a_setting_the_kind_does_not_use_and_keeps_conditions_as_rows() -> None:
    ScoreGroupFactory.create(key="frequent", min_score=60)
    text = """\
leadflow_model: 1
teams: [{key: sales, name: Sales, assignment: queue}]
routing:
  - key: r
    name: R
    trigger: enters_group
    group: frequent
    conditions: [{field: country, operator: one_of, value: [Spain]}, {field: attributes.plan, operator: is_set}]
    actions:
      - {kind: route_to_queue, team: sales, message: "Hello"}
      - {kind: add_tag, tag: vip}
"""
    with pytest.raises(scoring_file.ModelFileError) as raised:
        scoring_file_import(text)
    assert raised.value.errors == [
        "routing[0].actions[0].message: 'Route to a team's sales queue' does not use this: leave it empty."
    ]
    assert not RoutingRule.objects.exists()

    scoring_file_import(text.replace(', message: "Hello"', ""))
    made = RoutingRule.objects.get()
    assert list(made.conditions.values_list("position", "field", "operator", "value")) == [
        (0, "country", "one_of", ["Spain"]),
        (1, "attributes.plan", "is_set", None),
    ]
    exported = model_file.routing_model_export()
    assert exported.rules is not None
    assert [(c.field, c.operator, c.value) for c in exported.rules[0].conditions] == [
        ("country", "one_of", ["Spain"]),
        ("attributes.plan", "is_set", None),
    ]
    # Imported again with one condition fewer: the rows follow the file.
    scoring_file_import(
        text.replace(', message: "Hello"', "").replace(", {field: attributes.plan, operator: is_set}", "")
    )
    assert list(made.conditions.values_list("field", flat=True)) == ["country"]


def scoring_file_import(text: str) -> None:
    scoring.scoring_model_import(spec=scoring_file.load_text(text))


# --- the data migration ----------------------------------------------------------------------


def _insert(cursor: Any, sql: str, params: list[Any]) -> int:
    cursor.execute(sql + " RETURNING id", params)
    return int(cursor.fetchone()[0])


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_condition_lists_into_rows_and_back() -> None:
    call_command("migrate", "routing", "0009", verbosity=0)
    try:
        rules_sql = (
            "INSERT INTO routing_routingrule (key, name, active, position, trigger, stage, conditions)"
            " VALUES (%s, %s, true, 0, 'qualified', '', %s)"
        )
        with connection.cursor() as cursor:
            good = _insert(
                cursor,
                rules_sql,
                [
                    "good",
                    "Good",
                    '[{"field": "country", "operator": "one_of", "value": ["Spain", "Portugal"]},'
                    ' {"field": "attributes.plan", "operator": "is_set"}]',
                ],
            )
            broken = _insert(
                cursor,
                rules_sql,
                ["broken", "Broken", '[{"field": "country", "operator": "equals", "value": "ES"}, "nonsense"]'],
            )
            _insert(
                cursor,
                "INSERT INTO routing_routingaction (rule_id, position, kind, stage, tag, url, secret, message)"
                " VALUES (%s, 0, 'add_tag', 'mql', 'vip', '', '', 'left from a notify')",
                [good],
            )
        call_command("migrate", "routing", verbosity=0)

        rows = list(RoutingCondition.objects.order_by("rule_id", "position").values_list("rule_id", "field", "value"))
        assert rows == [
            (good, "country", ["Spain", "Portugal"]),
            (good, "attributes.plan", None),
            (broken, "country", "ES"),
        ]
        assert dict(RoutingRule.objects.values_list("key", "active")) == {"good": True, "broken": False}
        action = RoutingAction.objects.get()
        assert (action.tag, action.stage, action.message) == ("vip", "", "")

        call_command("migrate", "routing", "0009", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT conditions FROM routing_routingrule WHERE id = %s", [good])
            stored = cursor.fetchone()[0]
        loaded = stored if isinstance(stored, list) else json.loads(stored)
        assert loaded == [
            {"field": "country", "operator": "one_of", "value": ["Spain", "Portugal"]},
            {"field": "attributes.plan", "operator": "is_set"},
        ]
    finally:
        call_command("migrate", verbosity=0)
