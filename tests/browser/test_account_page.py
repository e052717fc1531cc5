"""An account's page in a real browser: a person opens the account from the account list
and reads its name, its leads by score, why it has its score and its story (its moves
between account groups and its ledger); in English, and in Spanish with none of the
page's English left."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from scoring import accounts as pure
from scoring import rules, services
from scoring.models import Account, AccountGroup, AccountSettings, Lead
from tests.routing.factories import PASSWORD, UserFactory

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

# What the account page itself says in English (its template and its breakdown).
ENGLISH_ON_THE_ACCOUNT_PAGE = [
    "Score:",
    "Leads (2)",
    "No lead belongs",
    "Account group:",
    "Timeline: the account ledger",
    "the sum of its leads' scores",
    "account fit rule",
    "Leads' roll-up",
    "Its leads' scores or members changed",
    "Account fit rule",
    "Leads with email at this domain belong here.",
]


def an_account() -> Account:
    AccountSettings.objects.update_or_create(pk=1, defaults={"rollup": pure.Rollup.SUM.value})
    AccountGroup.objects.create(key="engaged", name="Engaged", min_score=40)
    AccountGroup.objects.create(key="hot", name="Hot", min_score=80, leave_below=70)
    account = Account.objects.create(name="Acme Toys", domain="acme.example", industry="Toys")
    for email, first_name, points in [("ana@acme.example", "Ana", 30), ("luis@acme.example", "Luis", 55)]:
        lead = Lead.objects.create(email=email, first_name=first_name, account=account)
        services.lead_adjust_score(lead_id=lead.pk, dimension=rules.Dimension.ENGAGEMENT, delta=points, note="seed")
    services.accounts_refresh_pending()  # 85: engaged, then hot
    services.account_rule_create(name="Toy makers", points=10, conditions=[("industry", "equals", "toys")])
    services.accounts_rescore_fit(account_ids=[account.pk])
    return account


def open_account(browser: Browser, base: str, locale: str) -> Page:
    page = browser.new_context(locale=locale).new_page()
    page.goto(f"{base}/admin/login/?next=/admin/scoring/account/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.get_by_role("link", name="Acme Toys").click()
    page.locator("#account-ledger").wait_for()
    return page


def test_a_person_reads_an_account_its_leads_its_score_and_its_story(
    browser: Browser, live_server: object, tmp_path: Path
) -> None:
    UserFactory.create(username="olga", is_staff=True, is_superuser=True)
    an_account()

    page = open_account(browser, str(live_server), "en-US")
    assert page.locator("#id_name").input_value() == "Acme Toys"
    assert page.get_by_role("heading", name="Score: 95").is_visible()
    breakdown = page.locator("#account-score tbody tr").all_inner_texts()
    assert breakdown == ["Leads\tthe sum of its leads' scores\t85", "Toy makers\taccount fit rule\t10"]
    # Its leads, best first, each a link to the lead's page.
    leads = page.locator("#account-leads")
    assert leads.get_by_role("heading", name="Leads (2)").is_visible()
    assert leads.locator("tbody tr td:first-child").all_inner_texts() == ["luis@acme.example", "ana@acme.example"]
    assert leads.get_by_role("link", name="luis@acme.example").is_visible()
    # Its story: into Engaged then Hot as its leads' scores rolled up, and its ledger.
    groups = page.locator("#account-groups")
    assert groups.get_by_role("heading", name="Account group: Hot").is_visible()
    moves = groups.locator("tbody tr").all_inner_texts()
    assert [row.split("\t")[1:4] for row in moves] == [["Engaged", "Hot", "40 → 85"], ["none", "Engaged", "0 → 40"]]
    ledger = page.locator("#account-ledger tbody tr").all_inner_texts()
    assert [row.split("\t")[1:] for row in ledger] == [
        ["Account fit", "+10", "Account fit rule", "Toy makers"],
        ["Leads' roll-up", "+85", "Its leads' scores or members changed", ""],
    ]
    page.screenshot(path=str(tmp_path / "account.png"), full_page=True)

    # The same page for a Spanish reader.
    page = open_account(browser, str(live_server), "es-ES")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", name="Puntuación: 95").is_visible()
    assert page.get_by_role("heading", name="Leads (2)").is_visible()
    assert page.get_by_role("heading", name="Grupo de cuentas: Hot").is_visible()
    assert page.get_by_role("heading", name="Historia: el libro de puntuación de la cuenta").is_visible()
    assert "la suma de las puntuaciones de sus leads" in page.locator("#account-score").inner_text()
    ledger_text = page.locator("#account-ledger").inner_text().lower()  # its column heads in capitals
    for spanish in ["Perfil de la cuenta", "Regla de perfil de cuenta", "Agregado de sus leads", "Cuándo", "Cambio"]:
        assert spanish.lower() in ledger_text, spanish
    shown = page.locator("#content-main").inner_text()
    for english in ENGLISH_ON_THE_ACCOUNT_PAGE:
        assert english not in shown, english
