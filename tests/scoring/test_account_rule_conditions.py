"""An account fit rule's conditions as rows: edited in the admin as a lead rule's are,
with every problem shown at once on its field; the lists a rule had become rows (and back)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from scoring import model_file, services
from scoring.models import Account, AccountRule, AccountRuleCondition

ROOT = Path(__file__).resolve().parents[2]


def rule_post(*conditions: tuple[str, str, str], **fields: str) -> dict[str, str]:
    data = {
        "name": "Toy makers in Spain",
        "key": "toy-makers-in-spain",
        "points": "10",
        "match": "all",
        "active": "on",
        "conditions-TOTAL_FORMS": str(len(conditions)),
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for n, (field, operator, value) in enumerate(conditions):
        data |= {
            f"conditions-{n}-position": str(n),
            f"conditions-{n}-field": field,
            f"conditions-{n}-operator": operator,
            f"conditions-{n}-value_text": value,
        }
    return data


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_a_marketer_writes_an_account_rule_s_conditions_as_rows(admin: Client) -> None:
    saved = admin.post(
        reverse("admin:scoring_accountrule_add"),
        rule_post(("industry", "one_of", "Toys, Retail"), ("company_size", "between", "50-500")),
    )
    assert saved.status_code == 302
    rule = AccountRule.objects.get()
    assert [(c.field, c.operator, c.value) for c in rule.conditions.all()] == [
        ("industry", "one_of", ["Toys", "Retail"]),
        ("company_size", "between", [50, 500]),
    ]
    account = Account.objects.create(name="Acme", domain="acme.es", industry="Toys", company_size=120)
    services.accounts_rescore_fit(account_ids=[account.pk])
    assert Account.objects.get(pk=account.pk).fit_score == 10
    page = html.unescape(admin.get(reverse("admin:scoring_accountrule_changelist")).content.decode())
    assert "+10 when industry is one of Toys, Retail and company size is between 50 and 500" in page


@pytest.mark.django_db
def test_every_problem_of_the_conditions_is_shown_at_once_on_its_field(admin: Client) -> None:
    refused = admin.post(
        reverse("admin:scoring_accountrule_add"),
        rule_post(("title", "equals", "CEO"), ("company_size", "gt", "big"), ("country", "is_set", "Spain")),
    )
    assert refused.status_code == 200
    forms = refused.context["inline_admin_formsets"][0].formset.forms
    errors = [{name: " ".join(messages) for name, messages in form.errors.items()} for form in forms]
    assert [sorted(e) for e in errors] == [["field"], ["value_text"], ["value_text"]]
    assert "Unknown account field 'title'" in errors[0]["field"]
    assert "number" in errors[1]["value_text"]
    assert "takes no value" in errors[2]["value_text"]
    page = html.unescape(refused.content.decode())
    assert "Unknown account field 'title'" in page
    assert not AccountRule.objects.exists()

    none = admin.post(reverse("admin:scoring_accountrule_add"), rule_post())
    assert "An account fit rule needs at least one condition." in html.unescape(none.content.decode())


@pytest.mark.django_db
def test_the_model_file_is_unchanged_by_account_rules_and_leaves_them_alone() -> None:
    """Account fit rules are not part of the model file: a file round-trips as it was, and
    importing it keeps the account rules and their conditions as they are."""
    original = model_file.load_text((ROOT / "examples" / "toy_store.yaml").read_text())
    services.scoring_model_import(spec=original)
    services.account_rule_create(name="Toys", points=10, conditions=[("industry", "equals", "Toys")])
    exported = model_file.dump_data(services.scoring_model_export())
    assert "account_rules" not in exported
    services.scoring_model_import(spec=model_file.load_data(exported))
    assert model_file.dump_data(services.scoring_model_export()) == exported
    assert list(AccountRuleCondition.objects.values_list("rule__name", "field", "operator", "value")) == [
        ("Toys", "industry", "equals", "Toys")
    ]


def _insert_rule(cursor: Any, name: str, conditions: str) -> int:
    cursor.execute(
        "INSERT INTO scoring_accountrule (name, points, match, conditions, active, created_at)"
        " VALUES (%s, 5, 'all', %s, %s, CURRENT_TIMESTAMP) RETURNING id",
        [name, conditions, True],
    )
    return int(cursor.fetchone()[0])


@pytest.mark.migrations
def test_the_migration_turns_account_condition_lists_into_rows_and_back(empty_database: None) -> None:
    call_command("migrate", "scoring", "0037", verbosity=0)
    with connection.cursor() as cursor:
        good = _insert_rule(
            cursor,
            "Good",
            '[{"field": "industry", "operator": "one_of", "value": ["Toys", "Retail"]},'
            ' {"field": "attributes.plan", "operator": "is_set", "value": null}]',
        )
        broken = _insert_rule(
            cursor, "Broken", '[{"field": "country", "operator": "equals", "value": "ES"}, "nonsense"]'
        )
    call_command("migrate", "scoring", verbosity=0)

    rows = list(AccountRuleCondition.objects.order_by("rule_id", "position").values_list("rule_id", "field", "value"))
    assert rows == [
        (good, "industry", ["Toys", "Retail"]),
        (good, "attributes.plan", None),
        (broken, "country", "ES"),
    ]
    assert dict(AccountRule.objects.values_list("name", "active")) == {"Good": True, "Broken": False}

    call_command("migrate", "scoring", "0037", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT conditions FROM scoring_accountrule WHERE id = %s", [good])
        stored = cursor.fetchone()[0]
    loaded = stored if isinstance(stored, list) else json.loads(stored)
    assert loaded == [
        {"field": "industry", "operator": "one_of", "value": ["Toys", "Retail"]},
        {"field": "attributes.plan", "operator": "is_set", "value": None},
    ]
