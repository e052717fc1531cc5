"""Scorecards and account rules in a real browser: the Scorecards page with its counts and
links, a lead's scores on every scorecard, the replay of a draft that changes one
scorecard, and an account fit rule's conditions written as rows (with an error on its
field)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from scoring import services
from scoring.models import AccountRule, ReplayRun
from tests.routing.factories import PASSWORD, UserFactory
from tests.scoring import test_replay_scorecards as two_cards
from tests.scoring.test_scorecards import page_views, two_scorecards

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def signed_in(browser: Browser, base: str, path: str) -> Page:
    UserFactory.create(username="olga", is_staff=True, is_superuser=True)
    page = browser.new_context(locale="en-US").new_page()
    page.goto(f"{base}/admin/login/?next={path}")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}{path}")
    return page


def cells(page: Page, rows: str) -> list[list[str]]:
    return [[" ".join(cell.split()) for cell in row.split("\t")] for row in page.locator(rows).all_inner_texts()]


def test_a_marketer_reads_the_scorecards_and_follows_one_to_its_rules(browser: Browser, live_server: object) -> None:
    services.scoring_model_import(spec=two_scorecards())
    base = str(live_server)
    page = signed_in(browser, base, "/admin/scoring/scorecard/")

    listed = cells(page, "#result_list tbody tr")
    assert [row[:2] + row[3:5] for row in listed] == [["Books", "books", "1", "1"], ["Toys", "toys", "2", "2"]]
    page.locator("#result_list tbody tr", has_text="Toys").locator("td.field-rule_count a").click()
    page.wait_for_url(f"{base}/admin/scoring/scoringrule/?scorecard=toys")
    names = page.locator("#result_list tbody th").all_inner_texts()
    assert sorted(names) == ["Parent", "Toy pages"]
    assert set(page.locator("#result_list td.field-scorecard_column").all_inner_texts()) == {"Toys"}
    # The filter on the side says which scorecard is shown.
    assert page.locator("#changelist-filter li.selected", has_text="Toys").count() == 1


def test_a_lead_s_page_shows_its_score_and_group_on_every_scorecard(browser: Browser, live_server: object) -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"title": "Parent"})
    page_views(lead, "toys", 3)
    page_views(lead, "books", 7, start=3)
    services.interactions_score_pending()

    page = signed_in(browser, str(live_server), f"/admin/scoring/lead/{lead.pk}/change/")
    assert cells(page, "table.leadflow-scorecards tbody tr") == [
        ["Books (books)", "0", "21", "21", "Hot for books"],
        ["Toys (toys)", "10", "12", "22", "Warm for toys"],
    ]


def test_a_marketer_reads_each_scorecard_s_moves_on_the_replay_page(browser: Browser, live_server: object) -> None:
    two_cards.history()
    run = services.replay_start(version=two_cards.draft(), days=90, background=False)
    services.replay_run(run_id=run.pk)
    assert ReplayRun.objects.get(pk=run.pk).status == ReplayRun.Status.DONE

    page = signed_in(browser, str(live_server), f"/admin/scoring/replayrun/{run.pk}/change/")
    # The default score: nothing moves.
    assert cells(page, "#replay-moves tbody tr") == [["No lead would change group."]]
    toys = page.locator("#replay-scorecard-toys")
    assert toys.get_by_role("heading", name="Scorecard “Toys”").is_visible()
    assert cells(page, "#replay-scorecard-toys .replay-scorecard-moves tbody tr") == [["No group", "Hot for toys", "1"]]
    assert "36 live, 72 replayed (+36); 2 leads would score more, 0 less." in toys.inner_text()
    sample = cells(page, "#replay-scorecard-toys .replay-scorecard-sample tbody tr")
    assert sample == [["a@example.com", "12", "24", "No group", "Hot for toys"]]
    books = page.locator("#replay-scorecard-books")
    assert cells(page, "#replay-scorecard-books .replay-scorecard-moves tbody tr") == [["No lead would change group."]]
    assert "21 live, 21 replayed (0)" in books.inner_text()
    toys.get_by_role("link", name="a@example.com").click()
    page.wait_for_url("**/admin/scoring/lead/*/change/")


def test_a_marketer_writes_an_account_rule_s_conditions_and_reads_the_error_on_its_field(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    page = signed_in(browser, base, "/admin/scoring/accountrule/add/")
    page.locator("#id_name").press_sequentially("Toy makers")
    # The key the model file names it by follows the name as it is typed.
    assert page.input_value("#id_key") == "toy-makers"
    page.fill("#id_points", "10")
    page.fill("#id_conditions-0-field", "title")
    page.select_option("#id_conditions-0-operator", "equals")
    page.fill("#id_conditions-0-value_text", "CEO")
    page.get_by_role("button", name="Save", exact=True).click()

    # Refused, with the reason on the condition's field; nothing saved.
    row = page.locator("#conditions-group tr.form-row").first
    assert "Unknown account field 'title'" in row.locator("td.field-field").inner_text()
    assert page.locator(".errornote").is_visible()
    assert not AccountRule.objects.exists()

    page.fill("#id_conditions-0-field", "industry")
    page.select_option("#id_conditions-0-operator", "one_of")
    page.fill("#id_conditions-0-value_text", "Toys, Retail")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"{base}/admin/scoring/accountrule/")
    assert "+10 when industry is one of Toys, Retail" in page.locator("#result_list").inner_text()
    rule = AccountRule.objects.get()
    assert rule.key == "toy-makers"
    assert [(c.field, c.operator, c.value) for c in rule.conditions.all()] == [
        ("industry", "one_of", ["Toys", "Retail"])
    ]
