"""What Segment says about a company fills its account, so account fit rules score it: a
group call's traits, and an identify's traits.company object, sent with a key kept on a
server, are written to the account (over what it had, as an identify's traits are to a
lead), and its fit follows in the same transaction; a value its field cannot hold is kept
as a custom attribute of the account, and only what nothing may hold refuses the message
naming the trait; the same traits again change nothing; a key used in web pages describes no
company."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from intake.api_keys import api_key_issue
from scoring import services
from scoring.models import Account, AccountEntry, Lead
from tests.ledgers import account_fit_in_ledger

pytestmark = pytest.mark.django_db


def segment_client(*, public: bool = False) -> Client:
    key = api_key_issue(name="Website" if public else "Backend", public=public).key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}")


def send(client: Client, path: str, body: object) -> Any:
    return client.post(f"/v1/{path}", json.dumps(body), content_type="application/json")


def group(message_id: str, traits: object, *, user: str = "ana@gmail.com") -> dict[str, Any]:
    return {"type": "group", "messageId": message_id, "userId": user, "groupId": "acme-42", "traits": traits}


ACME = {
    "name": "Acme",
    "industry": "Software",
    "employees": "250",
    "annualRevenue": 1200000.5,
    "address": {"city": "Madrid", "country": "Spain"},
    "plan": "enterprise",
}


@pytest.fixture
def rules() -> None:
    services.account_rule_create(name="Software makers", points=10, conditions=[("industry", "equals", "Software")])
    services.account_rule_create(name="Mid-size", points=5, conditions=[("company_size", "gte", 200)])


def test_a_group_call_s_traits_fill_the_account_and_its_fit_follows(rules: None) -> None:
    segment = segment_client()
    answer = send(segment, "group", group("g-1", ACME))
    assert answer.status_code == 200, answer.json()

    account = Account.objects.get(external_id="acme-42")
    assert (account.name, account.industry, account.company_size, account.country) == ("Acme", "Software", 250, "Spain")
    assert account.annual_revenue == Decimal("1200000.50")
    assert account.attributes == {"plan": "enterprise"}
    assert account.fit_score == 15 == account_fit_in_ledger(account)
    assert Lead.objects.get(email="ana@gmail.com").account == account

    # The same traits again (the SDKs send them on every call): nothing changes.
    entries = AccountEntry.objects.count()
    assert send(segment, "batch", {"batch": [group("g-2", ACME), group("g-3", ACME)]}).json()["rejected"] == []
    assert AccountEntry.objects.count() == entries
    again = Account.objects.get(pk=account.pk)
    assert (again.name, again.industry, again.company_size, again.annual_revenue, again.attributes) == (
        "Acme",
        "Software",
        250,
        Decimal("1200000.50"),
        {"plan": "enterprise"},
    )

    # A key kept on a server is trusted as the API is: a new value replaces the one known,
    # a trait sent empty leaves its field, other attributes stay.
    moved = {"industry": "Retail", "employees": None, "seats": 40}
    assert send(segment, "group", group("g-4", moved)).status_code == 200
    account.refresh_from_db()
    assert (account.industry, account.company_size) == ("Retail", 250)
    assert account.attributes == {"plan": "enterprise", "seats": 40}
    assert account.fit_score == 5 == account_fit_in_ledger(account)


def test_an_identify_s_company_object_fills_the_person_s_account(rules: None) -> None:
    segment = segment_client()
    by_id = {"id": "acme-42", "name": "Acme", "industry": "Software", "employee_count": 300, "plan": "pro"}
    answer = send(segment, "identify", {"messageId": "i-1", "userId": "ana@gmail.com", "traits": {"company": by_id}})
    assert answer.status_code == 200, answer.json()
    account = Account.objects.get(external_id="acme-42")
    assert (account.name, account.industry, account.company_size, account.attributes) == (
        "Acme",
        "Software",
        300,
        {"plan": "pro"},
    )
    assert account.fit_score == 15 == account_fit_in_ledger(account)
    assert Lead.objects.get(email="ana@gmail.com").company == "Acme"

    # Without an id, the company is the account the person is in: their email's domain's.
    toys = {"company": {"industry": "Toys"}}
    rudder = {"messageId": "i-2", "userId": "luis@toys.example", "context": {"traits": toys}}
    assert send(segment, "identify", rudder).status_code == 200
    assert Account.objects.get(domain="toys.example").industry == "Toys"
    # A free-mail address without a company id is in no account: nothing to describe.
    alone = {"messageId": "i-3", "userId": "eva@gmail.com", "traits": {"company": {"industry": "Toys"}}}
    assert send(segment, "identify", alone).status_code == 200
    assert not Account.objects.filter(industry="Toys").exclude(domain="toys.example").exists()


@pytest.mark.parametrize(
    ("traits", "kept"),
    [
        # Segment's group spec types employees as a String: senders write ranges.
        ({"employees": "51-200"}, {"employees": "51-200"}),
        ({"employees": "lots"}, {"employees": "lots"}),
        ({"employees": 10**12}, {"employees": 10**12}),
        ({"annualRevenue": 1e20}, {"annualRevenue": 1e20}),
        ({"annual_revenue": "-5"}, {"annual_revenue": "-5"}),
        ({"annualRevenue": "$1M"}, {"annualRevenue": "$1M"}),
        ({"name": {"legal": "Acme"}}, {"name": {"legal": "Acme"}}),
        ({"industry": ["Software", "Retail"]}, {"industry": ["Software", "Retail"]}),
        ({"address": {"country": ["ES"]}}, {"address": {"country": ["ES"]}}),
    ],
)
def test_a_company_trait_its_field_cannot_hold_is_kept_as_an_attribute_and_costs_no_message(
    traits: dict[str, Any], kept: dict[str, Any]
) -> None:
    answer = send(segment_client(), "group", group("g-1", {"industry": "Software", **traits}))
    assert answer.status_code == 200, answer.json()
    account = Account.objects.get(external_id="acme-42")
    assert Lead.objects.get(email="ana@gmail.com").account == account
    assert account.attributes == kept
    assert account.company_size is None
    assert account.annual_revenue is None
    assert account.industry == ("" if "industry" in kept else "Software")
    assert account.country == ""


def test_a_bad_company_object_costs_an_identify_nothing_of_its_lead() -> None:
    company = {"id": "acme-42", "name": "Acme", "employee_count": "51-200", "industry": "Software"}
    identify = {"messageId": "i-1", "userId": "ana@gmail.com", "traits": {"firstName": "Ana", "company": company}}
    answer = send(segment_client(), "identify", identify)
    assert answer.status_code == 200, answer.json()
    lead = Lead.objects.get(email="ana@gmail.com")
    assert (lead.first_name, lead.company) == ("Ana", "Acme")
    account = Account.objects.get(external_id="acme-42")
    assert lead.account == account
    assert (account.industry, account.company_size) == ("Software", None)
    assert account.attributes == {"employee_count": "51-200"}


@pytest.mark.parametrize(
    ("path", "message", "field"),
    [
        ("group", group("g", {"industry": "Soft\u0000ware"}), "traits.industry"),
        ("group", group("g", {"employees": "\ud800"}), "traits.employees"),
        ("group", group("g", {"plan": [[[[[[[[[[[["deep"]]]]]]]]]]]]}), "traits.plan[0][0][0][0][0][0][0][0][0]"),
        ("group", group("g", ["Acme"]), "traits"),
        (
            "identify",
            {"userId": "ana@gmail.com", "traits": {"company": {"id": "acme-42", "industry": "Soft\u0000ware"}}},
            "traits.company.industry",
        ),
    ],
)
def test_a_company_trait_no_attribute_may_hold_refuses_the_message_naming_it(
    path: str, message: dict[str, Any], field: str
) -> None:
    answer = send(segment_client(), path, {"messageId": "m-1", **message})
    assert answer.status_code == 400
    assert list(answer.json()["errors"]) == [field]
    assert not Lead.objects.exists()
    assert not Account.objects.exists()


def test_a_key_used_in_web_pages_does_not_read_the_company_object() -> None:
    """A page may not say what a company is: its company object is not even checked."""
    company = {"id": "acme-42", "name": "Acme", "employee_count": "51-200", "annualRevenue": "lots"}
    traits = {"firstName": "Ana", "company": company}
    identify = {"messageId": "i-1", "userId": "ana@acme.example", "traits": traits}
    answer = send(segment_client(public=True), "identify", identify)
    assert answer.status_code == 200, answer.json()
    lead = Lead.objects.get(email="ana@acme.example")
    assert (lead.first_name, lead.company) == ("Ana", "Acme")
    account = Account.objects.get()
    assert (account.domain, account.company_size, account.annual_revenue, account.attributes) == (
        "acme.example",
        None,
        None,
        {},
    )


def test_a_key_used_in_web_pages_describes_no_company(rules: None) -> None:
    page = segment_client(public=True)
    refused = send(page, "group", group("g-1", ACME, user="ana@acme.example"))
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["groupId"]

    company = {"id": "acme-42", "name": "Acme", "industry": "Software", "employee_count": 300}
    identify = {"messageId": "i-1", "userId": "ana@acme.example", "traits": {"company": company}}
    assert send(page, "identify", identify).status_code == 200
    account = Account.objects.get()
    assert (account.domain, account.industry, account.company_size, account.fit_score) == ("acme.example", "", None, 0)
    assert not AccountEntry.objects.exists()


def test_a_later_value_of_a_field_drops_the_attribute_that_held_an_earlier_one(rules: None) -> None:
    """Rules never read two contradicting values: the range kept for want of a number goes
    once a number comes, whoever sends it; what the message says in its attributes stays."""
    segment = segment_client()
    unreadable = {"industry": "Software", "employees": "51-200", "address": {"country": ["ES"]}, "plan": "pro"}
    assert send(segment, "group", group("g-1", unreadable)).status_code == 200
    account = Account.objects.get(external_id="acme-42")
    assert account.attributes == {"employees": "51-200", "address": {"country": ["ES"]}, "plan": "pro"}

    assert send(segment, "group", group("g-2", {"employee_count": 250, "country": "Spain"})).status_code == 200
    account.refresh_from_db()
    assert (account.company_size, account.country, account.attributes) == (250, "Spain", {"plan": "pro"})
    assert account.fit_score == 15 == account_fit_in_ledger(account)


def test_a_lead_filling_the_account_s_field_drops_the_attribute_kept_for_it(rules: None) -> None:
    segment = segment_client()
    assert send(segment, "group", group("g-1", {"employees": "51-200"}, user="ana@acme.example")).status_code == 200
    assert Account.objects.get(external_id="acme-42").attributes == {"employees": "51-200"}
    said = {"messageId": "i-1", "userId": "luis@acme.example", "traits": {"employees": 250}}
    said["context"] = {"groupId": "acme-42"}
    assert send(segment, "identify", said).status_code == 200
    account = Account.objects.get(external_id="acme-42")
    assert (account.company_size, account.attributes) == (250, {})


def test_a_range_then_a_number_in_one_batch_end_as_sent_one_by_one() -> None:
    segment = segment_client()
    first, then = group("g-1", {"employees": "51-200", "seats": 3}), group("g-2", {"employees": 250})
    assert send(segment, "batch", {"batch": [first, then]}).json()["rejected"] == []
    account = Account.objects.get()
    assert (account.company_size, account.attributes) == (250, {"seats": 3})
