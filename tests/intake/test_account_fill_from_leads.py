"""A lead's own company fields (industry, company size, annual revenue, country) fill its
account's empty fields, so account fit rules score a company its leads describe: through
the API, a CSV import, an identify's traits sent with a key kept on a server. Fill-only:
the first lead to tell wins, and a field the account has is never changed. A key used in
web pages fills no account. The account's fit follows in the same transaction, and the
same lead saved again changes nothing."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from intake import imports
from intake.api_keys import api_key_issue
from intake.models import TrackedForm
from scoring import services
from scoring.models import Account, AccountEntry, FreeMailDomain, Lead
from tests.factories import LeadFactory
from tests.ledgers import account_fit_in_ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Client:
    key = api_key_issue(name="CRM", scopes=["leads:read", "leads:write"]).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.fixture
def rules() -> None:
    services.account_rule_create(name="Software makers", points=10, conditions=[("industry", "equals", "Software")])
    services.account_rule_create(name="Mid-size", points=5, conditions=[("company_size", "gte", 200)])


def upsert(api: Client, body: dict[str, Any]) -> Any:
    answer = api.post("/api/v1/leads", body, content_type="application/json")
    assert answer.status_code in (200, 201), answer.json()
    return answer


def acme() -> Account:
    return Account.objects.get(domain="acme.example")


def test_an_api_lead_fills_its_empty_account_and_the_account_fit_rules_score_it(api: Client, rules: None) -> None:
    upsert(api, {"email": "ana@acme.example", "industry": "Software", "company_size": 250, "country": "Spain"})
    upsert(api, {"email": "ana@acme.example", "annual_revenue": "1200000.50"})

    account = acme()
    assert (account.industry, account.company_size, account.country) == ("Software", 250, "Spain")
    assert account.annual_revenue == Decimal("1200000.50")
    assert account.fit_score == 15 == account_fit_in_ledger(account)

    # The same lead saved again changes nothing: no ledger row, no field.
    entries = AccountEntry.objects.count()
    upsert(api, {"email": "ana@acme.example", "industry": "Software", "company_size": 250, "country": "Spain"})
    assert AccountEntry.objects.count() == entries
    assert acme().fit_score == 15


def test_what_the_account_has_is_never_overwritten_and_the_first_lead_wins(api: Client, rules: None) -> None:
    account = Account.objects.create(domain="acme.example", name="Acme", industry="Retail")

    upsert(api, {"email": "ana@acme.example", "industry": "Software", "company_size": 250})
    account.refresh_from_db()
    # Set by the admin: kept. Empty: the lead fills it.
    assert (account.industry, account.company_size) == ("Retail", 250)
    assert account.fit_score == 5 == account_fit_in_ledger(account)

    # A second lead, or the first one changed, saying otherwise changes nothing.
    entries = AccountEntry.objects.count()
    upsert(api, {"email": "bo@acme.example", "industry": "Software", "company_size": 12, "country": "Peru"})
    upsert(api, {"email": "ana@acme.example", "company_size": 40})
    account.refresh_from_db()
    assert (account.industry, account.company_size, account.country) == ("Retail", 250, "Peru")
    assert AccountEntry.objects.count() == entries
    assert account.fit_score == 5 == account_fit_in_ledger(account)


def segment_client(*, public: bool) -> Client:
    key = api_key_issue(name="Website" if public else "Backend", public=public).key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}")


def identify(client: Client, message_id: str, traits: dict[str, Any]) -> None:
    body = {"messageId": message_id, "userId": "ana@acme.example", "traits": traits}
    answer = client.post("/v1/identify", json.dumps(body), content_type="application/json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["rejected"] == []


def test_a_key_used_in_web_pages_fills_no_account_and_a_server_key_does(api: Client, rules: None) -> None:
    said = {"industry": "Software", "employees": 250}
    identify(segment_client(public=True), "i-1", said)
    assert Lead.objects.get().industry == "Software"
    account = acme()
    assert (account.industry, account.company_size, account.fit_score) == ("", None, 0)
    assert not AccountEntry.objects.exists()
    # What the page wrote on the lead does not fill the account once the lead is written
    # again by a trusted sender saying nothing of the company.
    upsert(api, {"email": "ana@acme.example", "city": "Madrid"})
    assert (acme().industry, acme().company_size) == ("", None)
    assert not AccountEntry.objects.exists()

    identify(segment_client(public=False), "i-2", said)
    account.refresh_from_db()
    assert (account.industry, account.company_size) == ("Software", 250)
    assert account.fit_score == 15 == account_fit_in_ledger(account)


def test_a_company_object_in_the_same_identify_wins_over_the_person_s_own_traits(rules: None) -> None:
    traits = {"industry": "Retail", "employees": 250, "company": {"industry": "Software"}}
    identify(segment_client(public=False), "i-1", traits)
    account = acme()
    assert (account.industry, account.company_size) == ("Software", 250)
    assert account.fit_score == 15 == account_fit_in_ledger(account)


MAPPING = imports.mapping_load(
    "key: {column: email, field: email}\nfields: {industry: industry, employees: company_size, country: country}\n"
)


def csv_rows(count: int, domain: str) -> bytes:
    lines = ["email,industry,employees,country"]
    lines += [f"p{n}@{domain},{'Software' if n == 0 else 'Toys'},{250 + n},Spain" for n in range(count)]
    return "\n".join(lines).encode()


def test_a_csv_import_of_three_leads_at_one_domain_fills_the_account_once(rules: None) -> None:
    result = imports.leads_import(data=csv_rows(3, "acme.example"), mapping=MAPPING)
    assert result.created == 3

    account = acme()
    # The first lead (the lowest id) tells; the others find the fields filled.
    assert (account.industry, account.company_size, account.country) == ("Software", 250, "Spain")
    assert account.fit_score == 15 == account_fit_in_ledger(account)
    assert AccountEntry.objects.filter(account=account, dimension=AccountEntry.Dimension.FIT).count() == 2

    # The same file again changes nothing.
    imports.leads_import(data=csv_rows(3, "acme.example"), mapping=MAPPING)
    assert AccountEntry.objects.count() == 2


def test_a_batch_s_statements_do_not_grow_with_its_leads(rules: None) -> None:
    def statements(count: int, domain: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            imports.leads_import(data=csv_rows(count, domain), mapping=MAPPING)
        return len(captured)

    statements(1, "first.example")  # the first write of an account's fit makes the accounts' settings row
    assert statements(3, "acme.example") == statements(30, "toys.example")


def test_a_lead_saved_in_the_admin_fills_its_empty_account(rules: None) -> None:
    lead, _ = services.lead_upsert(email="ana@acme.example")
    lead.industry = "Software"
    services.lead_save(lead=lead, fields=["industry"], cause="admin")
    account = acme()
    assert account.industry == "Software"
    assert account.fit_score == 10 == account_fit_in_ledger(account)


def test_a_tracked_form_fills_its_lead_and_never_its_account(rules: None) -> None:
    """Anyone can post a form: the first to post must not describe a company for everyone."""
    TrackedForm.objects.create(key="demo", name="Demo", lead_fields=["industry", "company_size"], success_url="")
    web = Client(HTTP_HOST="localhost")
    posted = {"email": "ana@acme.example", "industry": "Gambling", "company_size": "2"}
    assert web.post("/t/f/demo", posted).status_code == 200
    lead = Lead.objects.get(email="ana@acme.example")
    assert (lead.industry, lead.company_size) == ("Gambling", 2)
    account = acme()
    assert (account.industry, account.company_size) == ("", None)
    assert account.fit_score == 0 == account_fit_in_ledger(account)


# --- told before the account could take it ---------------------------------------------


def fill_all(*options: str) -> str:
    out = StringIO()
    call_command("scoring_accounts_fill", *options, "--chunk-size", "1", stdout=out)
    return out.getvalue()


def test_leads_moved_by_the_free_mail_list_fill_their_new_account(api: Client, rules: None) -> None:
    """A company's own domain listed as free mail by mistake: its leads were in no account.
    Taken off the list, they join their company's account and fill it as a write would."""
    FreeMailDomain.objects.create(domain="acme.example")
    upsert(api, {"email": "ana@acme.example", "industry": "Software", "company_size": 250})
    identify(segment_client(public=True), "i-1", {"country": "Narnia"})  # a page tells nothing of a company
    assert Lead.objects.get().account is None

    FreeMailDomain.objects.filter(domain="acme.example").delete()
    services.leads_accounts_assign_all()
    account = acme()
    assert Lead.objects.get().account == account
    assert (account.industry, account.company_size, account.country) == ("Software", 250, "")
    assert account.fit_score == 15 == account_fit_in_ledger(account)


def test_filling_every_account_takes_what_trusted_senders_told_the_lowest_lead_first(api: Client, rules: None) -> None:
    upsert(api, {"email": "ana@acme.example", "industry": "Software", "company_size": 250})
    upsert(api, {"email": "bo@acme.example", "industry": "Toys", "company_size": 12, "country": "Spain"})
    # A form fills Ana's empty country; it tells nothing of her company.
    TrackedForm.objects.create(key="demo", name="Demo", lead_fields=["country"], success_url="")
    posted = Client(HTTP_HOST="localhost").post("/t/f/demo", {"email": "ana@acme.example", "country": "Narnia"})
    assert posted.status_code == 200
    assert Lead.objects.get(email="ana@acme.example").country == "Narnia"
    # The account emptied since (a person cleared it): the leads' next write would fill it.
    Account.objects.filter(domain="acme.example").update(industry="", company_size=None, country="")
    services.accounts_rescore_fit(account_ids=[acme().pk])
    assert acme().fit_score == 0

    assert fill_all() == "1 account(s) filled, of 1 with an empty field.\n"
    account = acme()
    assert (account.industry, account.company_size, account.country) == ("Software", 250, "Spain")
    assert account.fit_score == 15 == account_fit_in_ledger(account)
    entries = AccountEntry.objects.count()
    # Its annual revenue is still empty, and no lead tells it: read again, nothing written.
    assert fill_all() == "0 account(s) filled, of 1 with an empty field.\n"
    assert AccountEntry.objects.count() == entries


def test_leads_written_before_fill_their_accounts_from_their_fields_only_when_asked(rules: None) -> None:
    """Leads written before Leadflow kept what trusted senders told: nothing says who wrote
    their columns, so only an operator who knows no page or form did takes them."""
    for email, industry, size in [("bo@acme.example", "Toys", 12), ("ana@acme.example", "Software", 250)]:
        LeadFactory.create(email=email, industry=industry, company_size=size)
    services.leads_accounts_assign(lead_ids=Lead.objects.values_list("pk", flat=True))
    assert fill_all() == "0 account(s) filled, of 1 with an empty field.\n"
    assert (acme().industry, acme().company_size) == ("", None)

    assert fill_all("--from-lead-fields") == "1 account(s) filled, of 1 with an empty field.\n"
    account = acme()
    assert (account.industry, account.company_size) == ("Toys", 12)  # the lowest lead id
    assert account.fit_score == 0 == account_fit_in_ledger(account)


def test_filling_every_account_refuses_a_chunk_of_no_accounts() -> None:
    with pytest.raises(CommandError, match="--chunk-size must be at least 1"):
        call_command("scoring_accounts_fill", "--chunk-size", "0")
