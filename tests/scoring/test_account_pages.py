"""An account in the admin (its list by score; its page with its leads by score, the score
breakdown and the ledger newest first, paged) and in the API (/api/v1/accounts)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from intake.api_keys import api_key_issue
from scoring import rules, services
from scoring.models import Account, AccountEntry, AccountGroup, Lead

pytestmark = pytest.mark.django_db


def acme() -> Account:
    services.account_rule_create(name="Retail", points=10, conditions=[("industry", "equals", "Retail")])
    account = Account.objects.create(name="Acme", domain="acme.com", industry="Retail", external_id="crm-1")
    for n, score in enumerate([30, 5, 12]):
        lead = Lead.objects.create(email=f"p{n}@acme.com", account=account)
        services.lead_adjust_score(lead_id=lead.pk, dimension=rules.Dimension.ENGAGEMENT, delta=score, note="seed")
    services.accounts_rescore()
    return Account.objects.get(pk=account.pk)


def test_the_account_list_shows_scores_and_lead_counts(admin_client: Client) -> None:
    account = acme()
    Account.objects.create(name="Empty", domain="empty.com")
    page = admin_client.get("/admin/scoring/account/")
    assert page.status_code == 200
    text = page.content.decode()
    assert text.index("Acme") < text.index("Empty")  # by score
    assert account.total_score == 57
    cells = [(cell.lead_score, cell.fit_score, cell.leads_counted) for cell in page.context["cl"].result_list]
    assert cells == [(47, 10, 3), (0, 0, 0)]


def test_the_account_page_shows_leads_breakdown_and_ledger_paged(admin_client: Client) -> None:
    account = acme()
    AccountEntry.objects.bulk_create(
        [AccountEntry(account=account, dimension="leads", delta=d, cause="rollup", created_at=account.created_at)
         for d in (1, -1) * 30]
    )  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(f"/admin/scoring/account/{account.pk}/change/")
    assert page.status_code == 200
    shown = page.context["account_page"]
    assert [lead.total_score for lead in shown["leads"]] == [30, 12, 5]
    assert [(line.label, line.points) for line in shown["breakdown"]] == [("Leads", 47), ("Retail", 10)]
    assert "the sum of its leads&#x27; scores" in page.content.decode()
    assert len(shown["entries"]) == 50
    assert shown["entries"][0].pk > shown["entries"][-1].pk  # newest first
    assert (shown["newer"], shown["older"]) == (None, 2)
    assert len(queries) < 25
    older = admin_client.get(f"/admin/scoring/account/{account.pk}/change/?ledger_page=2")
    assert len(older.context["account_page"]["entries"]) == 12  # 60 + 2 made by the rescore
    assert (older.context["account_page"]["newer"], older.context["account_page"]["older"]) == (1, None)


@pytest.mark.parametrize("page", ["9223372036854775807", "9" * 30, "²", "-3", "x"])
def test_a_ledger_page_number_out_of_reach_shows_the_first_page(admin_client: Client, page: str) -> None:
    account = acme()
    response = admin_client.get(f"/admin/scoring/account/{account.pk}/change/", {"ledger_page": page})
    assert response.status_code == 200
    shown = response.context["account_page"]
    assert shown["newer"] is None
    assert len(shown["entries"]) == AccountEntry.objects.filter(account=account).count()


def test_accounts_in_the_api_need_the_read_scope() -> None:
    account = acme()
    reader = api_key_issue(name="BI", scopes=["leads:read"]).key
    writer = api_key_issue(name="Forms", scopes=["events:write"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {reader}")
    one = api.get(f"/api/v1/accounts/{account.pk}")
    assert one.status_code == 200
    body = one.json()
    assert (body["name"], body["lead_score"], body["fit_score"], body["total_score"]) == ("Acme", 47, 10, 57)
    assert [line["points"] for line in body["breakdown"]] == [47, 10]
    assert [lead["total_score"] for lead in body["leads"]] == [30, 12, 5]
    assert {entry["cause"] for entry in body["recent_ledger"]} == {"rescore", "rule"}
    assert api.get("/api/v1/accounts/999999").status_code == 404
    Account.objects.create(name="B", domain="b.com")
    first = api.get("/api/v1/accounts?limit=1").json()
    assert [a["name"] for a in first["results"]] == ["Acme"]
    second = api.get(f"/api/v1/accounts?limit=1&cursor={first['next_cursor']}").json()
    assert ([a["name"] for a in second["results"]], second["next_cursor"]) == (["B"], None)
    assert api.get("/api/v1/accounts?external_id=crm-1").json()["results"][0]["id"] == account.pk
    assert api.get("/api/v1/accounts?limit=0").status_code == 400
    other = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert other.get("/api/v1/accounts").status_code == 403
    assert Client(HTTP_HOST="localhost").get(f"/api/v1/accounts/{account.pk}").status_code in (401, 403)


def test_the_api_gives_each_account_s_group_and_lists_a_group_s_accounts() -> None:
    hot = AccountGroup.objects.create(key="hot", name="Hot", min_score=50)
    account = acme()  # 57: hot
    Account.objects.create(name="Cold Co", domain="cold.example")
    reader = api_key_issue(name="BI", scopes=["leads:read"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert api.get(f"/api/v1/accounts/{account.pk}").json()["group"] == {"key": "hot", "name": "Hot"}
    listed = api.get("/api/v1/accounts").json()["results"]
    assert [(a["name"], a["group"]) for a in listed] == [("Acme", {"key": "hot", "name": hot.name}), ("Cold Co", None)]
    with CaptureQueriesContext(connection) as queries:
        only_hot = api.get("/api/v1/accounts?group=hot")
    assert [a["name"] for a in only_hot.json()["results"]] == ["Acme"]
    assert len(queries) < 10
    unknown = api.get("/api/v1/accounts?group=warm")
    assert unknown.status_code == 400
    assert unknown.json()["group"] == ["no account group has the key 'warm' (hot)"]


@pytest.mark.parametrize("account_id", ["9223372036854775807", "9223372036854775808", "9" * 20])
def test_an_account_page_for_an_id_past_every_account_s_says_there_is_none(
    admin_client: Client, account_id: str
) -> None:
    response = admin_client.get(f"/admin/scoring/account/{account_id}/change/", follow=True)
    assert response.status_code == 200
    assert "doesn\u2019t exist" in response.content.decode()


def test_the_accounts_cursor_is_any_id_and_nothing_past_the_largest() -> None:
    acme()
    key = api_key_issue(name="BI", scopes=["leads:read"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    last = api.get("/api/v1/accounts", {"cursor": "9223372036854775807"})
    assert (last.status_code, last.json()["results"]) == (200, [])
    for past in ("9223372036854775808", "9" * 20):
        refused = api.get("/api/v1/accounts", {"cursor": past})
        assert refused.status_code == 400, past
        assert refused.json()["cursor"] == ["must be a whole number from 1 to 9223372036854775807"]
