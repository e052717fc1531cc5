"""Account fit rules: scoring's conditions on the account's fields and custom attributes,
their points in the account ledger with the rule as cause, re-evaluated when the rules
or the account change."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.test import Client

from scoring import services
from scoring.models import Account, AccountEntry, AccountRule

pytestmark = pytest.mark.django_db


def rule(points: int, *conditions: tuple[str, str, object], match: str = "all", name: str = "r") -> AccountRule:
    return services.account_rule_create(name=name, points=points, match=match, conditions=conditions)


def fit_by_rule(account: Account) -> dict[str, int]:
    rows = (
        AccountEntry.objects.filter(account=account, dimension="fit")
        .values("rule__name")
        .annotate(points=Sum("delta"))
        .values_list("rule__name", "points")
    )
    return {name: points for name, points in rows if points}


def test_account_fit_rules_score_fields_and_custom_attributes() -> None:
    rule(10, ("industry", "one_of", ["Retail", "Toys"]), name="Retail")
    rule(15, ("company_size", "between", [50, 500]), ("country", "equals", "Spain"), name="Mid-size in Spain")
    rule(5, ("annual_revenue", "gte", 1_000_000), name="Revenue")
    rule(-20, ("attributes.plan", "equals", "competitor"), name="Competitor")
    rule(3, ("domain", "matches", "*.es"), ("country", "equals", "Chile"), match="any", name="Spanish-speaking")
    acme = Account.objects.create(
        name="Acme", domain="acme.es", industry="Toys", company_size=120, country="Spain", annual_revenue=2_000_000
    )
    rival = Account.objects.create(name="Rival", domain="rival.com", attributes={"plan": "competitor"})
    assert services.accounts_rescore_fit(account_ids=[acme.pk, rival.pk]) == 5
    acme.refresh_from_db()
    rival.refresh_from_db()
    assert fit_by_rule(acme) == {"Retail": 10, "Mid-size in Spain": 15, "Revenue": 5, "Spanish-speaking": 3}
    assert (acme.fit_score, acme.total_score) == (33, 33)
    assert (rival.fit_score, fit_by_rule(rival)) == (-20, {"Competitor": -20})
    assert services.accounts_rescore_fit(account_ids=[acme.pk, rival.pk]) == 0


def test_a_change_of_the_account_or_of_the_rules_is_reflected() -> None:
    retail = rule(10, ("industry", "equals", "Retail"), name="Retail")
    account = Account.objects.create(name="Acme", domain="acme.com", industry="Retail")
    services.accounts_rescore()
    account.industry = "Banking"
    services.account_save(account=account, fields=["industry"])
    account.refresh_from_db()
    assert (account.fit_score, fit_by_rule(account)) == (0, {})
    account.industry = "Retail"
    services.account_save(account=account, fields=["industry"])
    assert Account.objects.get(pk=account.pk).fit_score == 10
    # A deactivated rule's points are taken back by the recompute, with the rule as cause.
    retail.active = False
    retail.save()
    services.accounts_rescore()
    assert Account.objects.get(pk=account.pk).fit_score == 0
    causes = list(AccountEntry.objects.filter(account=account).order_by("id").values_list("delta", "cause", "rule"))
    assert causes == [
        (10, "rule", retail.pk),
        (-10, "rule", retail.pk),
        (10, "rule", retail.pk),
        (-10, "rule", retail.pk),
    ]


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        ([], "at least one condition"),
        ([("title", "equals", "CEO")], "condition 1, field: Unknown account field 'title'"),
        ([("industry", "near", "x")], "condition 1, operator: Unknown operator 'near'"),
        ([("company_size", "gt", "big")], "condition 1, value:"),
        ([("attributes.bad key", "is_set", None)], "not a valid custom attribute"),
    ],
)
def test_a_rule_that_cannot_work_says_why(conditions: list[tuple[str, str, object]], problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        services.account_rule_create(name="x", points=5, conditions=conditions)
    assert problem in str(refused.value)
    assert not AccountRule.objects.exists()


def test_every_problem_of_a_rule_is_reported_at_once_by_its_place() -> None:
    with pytest.raises(ValidationError) as refused:
        services.account_rule_create(
            name="x", points=0, conditions=[("title", "gt", "big"), ("industry", "equals", "Toys"), ("size", "near", 1)]
        )
    errors = refused.value.message_dict
    assert list(errors) == ["points", "conditions"]
    assert [e.split(":")[0] for e in errors["conditions"]] == [
        "condition 1, field",
        "condition 1, value",
        "condition 3, field",
        "condition 3, operator",
    ]


def test_editing_an_account_in_the_admin_re_evaluates_its_fit(admin_client: Client) -> None:
    rule(7, ("country", "equals", "Peru"), name="Peru")
    account = Account.objects.create(name="Acme", domain="acme.com")
    page = admin_client.post(
        f"/admin/scoring/account/{account.pk}/change/",
        {"name": "Acme", "domain": "acme.com", "country": "Peru", "attributes": "{}", "time_zone": ""},
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    assert Account.objects.get(pk=account.pk).fit_score == 7
