"""Accounts: which account a lead belongs to (its email's domain, not a free-mail one,
or the company id the API names), kept on every path that creates a lead or changes
its email, in bulk where the path is bulk."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from intake.api_keys import api_key_issue
from scoring import accounts as pure
from scoring import bulk, services
from scoring.models import Account, FreeMailDomain, Lead
from scoring.services.account_fields import leads_accounts_assign_all
from scoring.services.accounts import leads_accounts_assign
from scoring.services.lead_rows import LeadRow, leads_write_rows
from tests.factories import LeadFactory

FREE = ["gmail.com", "hotmail.es"]


@pytest.fixture
def free_mail(db: None) -> None:
    # A flushed test database (transactional tests) loses the seeded list: the tests say theirs.
    FreeMailDomain.objects.all().delete()
    FreeMailDomain.objects.bulk_create([FreeMailDomain(domain=d) for d in FREE])


def account_of(email: str) -> Account | None:
    return Lead.objects.select_related("account").get(email__iexact=email).account


# --- pure ----------------------------------------------------------------------------


def test_the_domain_of_an_email() -> None:
    assert pure.email_domain(" Ana@Acme.COM ") == "acme.com"
    assert pure.email_domain("nobody") == ""
    assert pure.business_domain("ana@gmail.com", free_mail={"gmail.com"}) is None
    assert pure.business_domain("ana@acme.com", free_mail={"gmail.com"}) == "acme.com"
    assert pure.business_domain(None, free_mail=set()) is None


def test_the_roll_up_each_way() -> None:
    scores = [10, 40, -5, 25]
    assert pure.rollup(scores, method=pure.Rollup.SUM, top_n=3) == 70
    assert pure.rollup(scores, method=pure.Rollup.MAX, top_n=3) == 40
    assert pure.rollup(scores, method=pure.Rollup.TOP_AVERAGE, top_n=2) == 33  # (40 + 25) / 2 = 32.5
    assert pure.rollup(scores, method=pure.Rollup.TOP_AVERAGE, top_n=10) == 18  # 70 / 4 = 17.5
    assert pure.rollup([], method=pure.Rollup.MAX, top_n=3) == 0
    assert pure.rounded_average(-5, 2) == -3


@given(st.lists(st.integers(-500, 500), max_size=30), st.integers(1, 10))
def test_the_average_of_the_top_n_lies_between_their_least_and_the_maximum(scores: list[int], n: int) -> None:
    value = pure.rollup(scores, method=pure.Rollup.TOP_AVERAGE, top_n=n)
    if scores:
        best = sorted(scores, reverse=True)[:n]
        assert min(best) <= value <= max(best)


# --- membership ----------------------------------------------------------------------


def test_the_migration_seeds_the_usual_free_mail_providers(db: None) -> None:
    seeded = set(FreeMailDomain.objects.values_list("domain", flat=True))
    assert {"gmail.com", "yahoo.com", "proton.me", "qq.com", "163.com", "hotmail.es", "yahoo.es"} <= seeded


def test_a_business_domain_makes_an_account_named_after_the_company(free_mail: None) -> None:
    ana, _ = services.lead_upsert(email="ana@acme.com", fields={"company": "Acme Corp"})
    bo, _ = services.lead_upsert(email="bo@ACME.com")
    cy, _ = services.lead_upsert(email="cy@gmail.com", fields={"company": "Acme Corp"})
    dee, _ = services.lead_upsert(email="dee@initech.com")
    acme = Account.objects.get(domain="acme.com")
    assert acme.name == "Acme Corp"
    assert (ana.account_id, bo.account_id, cy.account_id) == (acme.pk, acme.pk, None)
    assert Account.objects.get(domain="initech.com").name == "initech.com"
    assert dee.account_id != acme.pk
    assert Account.objects.count() == 2


def test_the_company_id_from_the_api_wins_over_the_domain_and_stays(free_mail: None) -> None:
    key = api_key_issue(name="CRM", scopes=["leads:read", "leads:write"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"email": "ana@acme.com", "company": "Acme Holding", "account_id": "crm-77"}
    answer = api.post("/api/v1/leads", body, content_type="application/json")
    assert answer.status_code == 201
    named = Account.objects.get(external_id="crm-77")
    assert (named.name, named.domain) == ("Acme Holding", None)
    assert answer.json()["account"] == named.pk
    assert not Account.objects.filter(domain="acme.com").exists()
    # Later changes of the lead, and reassigning everyone, keep the named account.
    services.lead_upsert(email="ana@acme.com", fields={"city": "Lima"})
    leads_accounts_assign_all()
    assert account_of("ana@acme.com") == named
    # A lead already in its domain's account moves to the one named, and only once.
    services.lead_upsert(email="bo@acme.com")
    answer = api.post(
        "/api/v1/leads", {"email": "bo@acme.com", "account_id": "crm-77"}, content_type="application/json"
    )
    assert (answer.status_code, answer.json()["account"]) == (200, named.pk)
    assert Account.objects.filter(external_id="crm-77").count() == 1


def test_an_account_id_too_long_is_refused_by_name(free_mail: None) -> None:
    key = api_key_issue(name="CRM", scopes=["leads:write"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    answer = api.post("/api/v1/leads", {"email": "a@b.com", "account_id": "x" * 201}, content_type="application/json")
    assert answer.status_code == 400
    assert "account_id" in answer.json()


def test_assignment_is_idempotent(free_mail: None) -> None:
    leads = [LeadFactory.create(email=f"p{n}@acme.com") for n in range(3)]
    first = leads_accounts_assign(lead_ids=[lead.pk for lead in leads])
    assert first.leads == 3
    assert leads_accounts_assign(lead_ids=[lead.pk for lead in leads]) == (0, frozenset(), frozenset())


def test_a_new_email_moves_the_lead_to_its_new_domain(free_mail: None) -> None:
    lead, _ = services.lead_upsert(email="ana@acme.com", fields={"external_id": "p-1"})
    acme = lead.account
    leads_write_rows(key_field="external_id", rows=[LeadRow("p-1", {"email": "ana@gmail.com"})])
    assert account_of("ana@gmail.com") is None
    leads_write_rows(key_field="external_id", rows=[LeadRow("p-1", {"email": "ana@initech.com"})])
    assert account_of("ana@initech.com") == Account.objects.get(domain="initech.com")
    assert acme is not None
    assert Account.objects.filter(pk=acme.pk).exists()


def test_assignment_takes_a_few_statements_whatever_the_number_of_leads(free_mail: None) -> None:
    def run(count: int, offset: int) -> int:
        leads = Lead.objects.bulk_create(
            [Lead(email=f"p{n}@co{n // 2}.com", company=f"Co {n // 2}") for n in range(offset, offset + count)]
        )
        with CaptureQueriesContext(connection) as queries:
            assert leads_accounts_assign(lead_ids=[lead.pk for lead in leads]).leads == count
        return len(queries)

    # (Up to 60 new accounts: SQLite's inserts take 999 values at most, Django splits more.
    # Both batches are large enough that PostgreSQL's lookups of the leads take the key,
    # with their plan settings: bulk.BY_KEY_ROWS.)
    assert bulk.BY_KEY_ROWS[0] < 102 < 120
    assert run(102, 0) == run(120, 1000)
    assert Account.objects.count() == 51 + 60
    assert Account.objects.get(domain="co3.com").name == "Co 3"


def test_bulk_imports_assign_accounts(free_mail: None) -> None:
    rows = [LeadRow(f"p{n}@co{n % 7}.com", {"company": f"Co {n % 7}"}) for n in range(50)]
    rows.append(LeadRow("free@gmail.com"))
    leads_write_rows(key_field="email", rows=rows)
    assert Account.objects.count() == 7
    assert Lead.objects.filter(account__isnull=True).get().email == "free@gmail.com"
    assert Account.objects.get(domain="co3.com").name == "Co 3"


def test_leads_made_by_events_and_identifies_join_their_accounts(free_mail: None) -> None:
    with transaction.atomic():
        services.leads_create(keys=[("ana@acme.com", None), ("bo@gmail.com", None), (None, "ext-1")])
        services.leads_merge(fields={"cy@acme.com": {"company": "Acme"}, "dee@initech.com": {}})
    acme = Account.objects.get(domain="acme.com")
    assert account_of("ana@acme.com") == acme
    assert account_of("cy@acme.com") == acme
    assert account_of("bo@gmail.com") is None
    assert account_of("dee@initech.com") == Account.objects.get(domain="initech.com")
    assert Lead.objects.get(external_id="ext-1").account is None


def test_the_command_follows_a_changed_free_mail_list(free_mail: None) -> None:
    old = [LeadFactory.create(email=f"p{n}@{d}") for n, d in enumerate(["acme.com", "gmail.com", "mail.acme.com"])]
    out = StringIO()
    call_command("accounts_assign", "--chunk-size", "2", stdout=out)
    assert "2 lead(s) moved" in out.getvalue()
    assert Lead.objects.get(pk=old[1].pk).account is None
    # gmail.com is a company after all; acme.com turns out to be free mail.
    FreeMailDomain.objects.filter(domain="gmail.com").delete()
    FreeMailDomain.objects.create(domain="acme.com")
    call_command("accounts_assign", stdout=StringIO())
    assert Lead.objects.get(pk=old[0].pk).account is None
    assert Lead.objects.select_related("account").get(pk=old[1].pk).account.domain == "gmail.com"  # type: ignore[union-attr]
    call_command("accounts_assign", stdout=out)
    assert out.getvalue().endswith("0 lead(s) moved to another account.\n")


def test_a_person_choosing_the_account_in_the_admin_keeps_it(free_mail: None, admin_client: Client) -> None:
    lead, _ = services.lead_upsert(email="ana@acme.com")
    other = Account.objects.create(name="Parent Co", domain="parent.com")
    lead.account = other
    services.lead_save(lead=lead, fields=["account"], cause="admin")
    services.lead_save(lead=lead, fields=["email"], cause="admin")
    leads_accounts_assign_all()
    assert Lead.objects.get(pk=lead.pk).account_id == other.pk
    lead.account = None
    services.lead_save(lead=lead, fields=["account"], cause="admin")
    assert Lead.objects.get(pk=lead.pk).account == Account.objects.get(domain="acme.com")


@pytest.mark.django_db
def test_free_mail_domains_are_added_as_the_admin_keeps_them_or_refused_naming_the_field() -> None:
    FreeMailDomain.objects.filter(domain="mail.example").delete()
    assert services.free_mail_domains_add(domains=["@Mail.Example.", "mail.example"]) == ["mail.example"]
    assert FreeMailDomain.objects.filter(domain="mail.example").count() == 1
    assert services.free_mail_domains_add(domains=["MAIL.example"]) == []

    with pytest.raises(ValidationError) as refused:
        services.free_mail_domains_add(domains=["post.example", "localhost"])
    assert list(refused.value.message_dict) == ["domain"]
    assert not FreeMailDomain.objects.filter(domain="post.example").exists()
