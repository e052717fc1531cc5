"""A lead's company id (the API's account_id) from every door: a CSV import's account
column, Segment's group call and an identify's context.groupId or traits.company.id,
and tracked forms that list account_id. Each puts the lead in that account (made if
new), whatever its email's domain, and refuses a bad id naming where it came from."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client

from intake import imports
from intake.api_keys import api_key_issue
from intake.models import TrackedForm
from intake.tracking import webforms
from scoring.models import Account, Interaction, Lead

pytestmark = pytest.mark.django_db


def account_of(email: str) -> str | None:
    account = Lead.objects.select_related("account").get(email=email).account
    return None if account is None else account.external_id or account.domain


# --- CSV import --------------------------------------------------------------------------

MAPPING = imports.mapping_load("key: {column: email, field: email}\nfields: {company: company}\naccount: company id\n")
CSV = (
    "email,company,company id\n"
    "ana@gmail.com,Acme,ACME-1\n"
    "luis@acme.com,Acme,ACME-1\n"
    "bea@toys.example,Toys,\n"
    f"eva@toys.example,Toys,{'x' * 201}\n"
)


def test_a_csv_column_names_each_lead_s_account_and_a_second_import_changes_nothing() -> None:
    first = imports.leads_import(data=CSV.encode(), mapping=MAPPING)
    assert (first.created, first.set_aside) == (3, 1)
    assert [(e.row, e.column) for e in first.errors] == [(5, "company id")]
    assert "at most 200 characters" in first.errors[0].reason
    # A free-mail address and a business one, both in the account the file names.
    assert (account_of("ana@gmail.com"), account_of("luis@acme.com")) == ("ACME-1", "ACME-1")
    assert Account.objects.get(external_id="ACME-1").name == "Acme"
    assert account_of("bea@toys.example") == "toys.example"  # no id: its email's domain
    assert not Lead.objects.filter(email="eva@toys.example").exists()

    again = imports.leads_import(data=CSV.encode(), mapping=MAPPING)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    moved = CSV.replace("luis@acme.com,Acme,ACME-1", "luis@acme.com,Acme,ACME-2")
    third = imports.leads_import(data=moved.encode(), mapping=MAPPING)
    assert (third.updated, third.unchanged) == (1, 2)
    assert account_of("luis@acme.com") == "ACME-2"


def test_a_mapping_account_column_missing_from_the_file_is_named() -> None:
    with pytest.raises(imports.MappingError) as refused:
        imports.leads_import(data=b"email,company\nana@acme.com,Acme\n", mapping=MAPPING)
    assert refused.value.field == "account"


# --- Segment -----------------------------------------------------------------------------


@pytest.fixture
def segment() -> Client:
    key = api_key_issue(name="Segment").key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}")


def send(client: Client, path: str, body: object) -> Any:
    return client.post(f"/v1/{path}", json.dumps(body), content_type="application/json")


def test_a_group_call_puts_the_person_in_the_company_s_account(segment: Client) -> None:
    answer = send(segment, "group", {"messageId": "g-1", "userId": "ana@gmail.com", "groupId": "acme-42"})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["identified"] == 1
    assert account_of("ana@gmail.com") == "acme-42"
    # RudderStack names the person in context.traits; a number is an id too.
    rudder = {"messageId": "g-2", "userId": "u-7", "groupId": 42, "context": {"traits": {"email": "luis@toys.example"}}}
    assert send(segment, "group", rudder).status_code == 200
    assert account_of("luis@toys.example") == "42"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("context.groupId", {"context": {"groupId": "acme-42"}}),
        ("traits.company.id", {"traits": {"company": {"id": "acme-42", "name": "Acme"}}}),
    ],
)
def test_an_identify_names_the_account_by_context_group_id_or_company_id(
    segment: Client, where: str, message: dict[str, Any]
) -> None:
    answer = send(segment, "identify", {"messageId": where, "userId": "ana@gmail.com", **message})
    assert answer.status_code == 200, answer.json()
    assert account_of("ana@gmail.com") == "acme-42"


@pytest.mark.parametrize(
    ("path", "message", "field"),
    [
        ("group", {"userId": "ana@gmail.com"}, "groupId"),
        ("group", {"userId": "ana@gmail.com", "groupId": {"id": 1}}, "groupId"),
        ("group", {"userId": "u-7", "groupId": "acme"}, "userId"),
        ("identify", {"userId": "ana@gmail.com", "context": {"groupId": "x" * 201}}, "context.groupId"),
        ("identify", {"userId": "ana@gmail.com", "traits": {"company": {"id": True}}}, "traits.company.id"),
    ],
)
def test_a_bad_company_id_refuses_the_message_naming_its_place(
    segment: Client, path: str, message: dict[str, Any], field: str
) -> None:
    answer = send(segment, path, {"messageId": "m-1", **message})
    assert answer.status_code == 400
    assert list(answer.json()["errors"]) == [field]
    assert not Lead.objects.exists()
    assert not Account.objects.exists()


# --- tracked forms -----------------------------------------------------------------------


def test_a_form_listing_account_id_puts_the_lead_in_that_account() -> None:
    TrackedForm.objects.create(key="abm", name="Landing page", lead_fields=["first_name", "account_id"])
    TrackedForm.objects.create(key="contact", name="Contact", lead_fields=["first_name"])
    web = Client(HTTP_HOST="localhost")
    assert web.post("/t/f/abm", {"email": "ana@gmail.com", "account_id": "acme-42"}).status_code == 200
    assert account_of("ana@gmail.com") == "acme-42"
    # A form that does not list it keeps what was posted on the interaction only.
    assert web.post("/t/f/contact", {"email": "bea@toys.example", "account_id": "acme-42"}).status_code == 200
    assert account_of("bea@toys.example") == "toys.example"
    assert Interaction.objects.get(lead__email="bea@toys.example").properties["account_id"] == "acme-42"
    # A bad id is refused whole, naming the field.
    refused = web.post("/t/f/abm", {"email": "eva@toys.example", "account_id": "x" * 201})
    assert refused.status_code == 400
    assert "account_id" in refused.content.decode()
    assert not Lead.objects.filter(email="eva@toys.example").exists()


def test_a_form_names_the_account_only_of_a_lead_none_was_named_for() -> None:
    """Anyone may post a landing page's form with any email and any id: it places a lead
    in its domain's account, but never moves one whose account a trusted sender (or an
    earlier post) named."""
    imports.leads_import(data=CSV.encode(), mapping=MAPPING)  # Ana named in ACME-1 by the CRM's file
    TrackedForm.objects.create(key="abm", name="Landing page", lead_fields=["first_name", "account_id"])
    web = Client(HTTP_HOST="localhost")

    assert web.post("/t/f/abm", {"email": "ana@gmail.com", "account_id": "evil-1"}).status_code == 200
    assert web.post("/t/f/abm", {"email": "bea@toys.example", "account_id": "acme-42"}).status_code == 200
    assert web.post("/t/f/abm", {"email": "bea@toys.example", "account_id": "evil-1"}).status_code == 200

    assert account_of("ana@gmail.com") == "ACME-1"
    assert account_of("bea@toys.example") == "acme-42", "in its domain's account, none named yet: the first post"


def test_the_admin_lets_a_form_list_account_id() -> None:
    assert webforms.form_lead_field_problems(["first_name", "account_id"]) == []
    assert webforms.form_lead_field_problems(["owner"]) != []
