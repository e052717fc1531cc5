"""A routing rule's page in a real browser, as a marketer sees it: conditions as rows
whose field box offers the lead fields known, each action showing only the settings its
kind uses, and every problem shown at once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from nurture.models import Sequence
from routing.models import RoutingAction, RoutingRule
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.factories import PASSWORD, TeamFactory, marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SETTINGS = ["sequence", "team", "user", "stage", "tag", "url", "secret", "message"]


def save(page: Page) -> None:
    """Press Save and wait for the page the server answers with (errors or the list)."""
    with page.expect_navigation():
        page.locator("input[name=_save]").click()
    page.wait_for_load_state()


def shown(action: Locator) -> list[str]:
    return [name for name in SETTINGS if action.locator(f".form-row.field-{name}").is_visible()]


def log_in(page: Page, base: str, next_path: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", "carol")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(rf".*{re.escape(next_path)}$"))


def test_a_marketer_builds_a_rule_from_rows_and_kinds(browser: Browser, live_server: object, tmp_path: Path) -> None:
    base = str(live_server)
    marketer(username="carol")
    frequent = ScoreGroupFactory.create(key="frequent", name="Frequent", min_score=60)
    TeamFactory.create(name="North")
    Sequence.objects.create(key="nurture", name="Nurture")
    LeadFactory.create(attributes={"plan": "pro"})

    page = browser.new_context().new_page()
    log_in(page, base, "/admin/routing/routingrule/add/")
    page.fill("#id_name", "Iberian pros")
    page.select_option("#id_trigger", "enters_group")
    page.select_option("#id_group", str(frequent.pk))

    # The field box offers the lead fields and the custom attributes seen.
    field = page.locator("#id_conditions-0-field")
    assert field.get_attribute("list") == "lead-fields"
    offered = page.locator("datalist#lead-fields option").evaluate_all("options => options.map(o => o.value)")
    assert {"country", "industry", "company_size", "attributes.plan"} <= set(offered)
    field.fill("country")
    page.select_option("#id_conditions-0-operator", "one_of")
    page.fill("#id_conditions-0-value_text", "Spain, Portugal")

    # An action shows the settings of its kind only.
    page.locator("#actions-group").get_by_role("button", name=re.compile("Add another")).click()
    action = page.locator("#actions-0")
    assert shown(action) == SETTINGS  # no kind yet: everything
    action.locator("select[name='actions-0-kind']").select_option("notify")
    assert shown(action) == ["team", "message"]
    action.locator("select[name='actions-0-kind']").select_option("webhook")
    assert shown(action) == ["url", "secret"]
    action.locator("select[name='actions-0-kind']").select_option("enroll")
    assert shown(action) == ["sequence"]
    page.screenshot(path=str(tmp_path / "rule-form.png"), full_page=True)

    # Save with three problems: all shown, and the kind's settings still the only ones shown.
    page.fill("#id_conditions-0-value_text", "")
    page.fill("#id_threshold", "80")  # a setting 'enters group' does not read
    save(page)
    errors = page.locator(".errorlist").all_inner_texts()
    assert "'one_of' needs a value." in errors
    assert "Choose the sequence to enroll in." in errors
    assert "'enters group' does not use this: leave it empty." in errors
    assert shown(page.locator("#actions-0")) == ["sequence"]

    page.fill("#id_threshold", "")
    page.fill("#id_conditions-0-value_text", "Spain, Portugal")
    page.locator("#actions-0 select[name='actions-0-sequence']").select_option(label="Nurture")
    save(page)
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    made = RoutingRule.objects.get(name="Iberian pros")
    assert list(made.conditions.values_list("field", "operator", "value")) == [
        ("country", "one_of", ["Spain", "Portugal"])
    ]
    assert list(RoutingAction.objects.filter(rule=made).values_list("kind", "sequence__key")) == [("enroll", "nurture")]


def test_a_setting_left_from_another_kind_is_not_kept(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    marketer(username="carol")
    rule = RoutingRule.objects.create(key="r", name="R", trigger="qualified")
    RoutingAction.objects.create(rule=rule, kind="add_tag", tag="vip")

    page = browser.new_context().new_page()
    log_in(page, base, f"/admin/routing/routingrule/{rule.pk}/change/")
    action = page.locator("#actions-0")
    assert shown(action) == ["tag"]
    action.locator("select[name='actions-0-kind']").select_option("set_stage")
    action.locator("select[name='actions-0-stage']").select_option("mql")
    save(page)
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    saved = RoutingAction.objects.get(rule=rule)
    assert (saved.kind, saved.stage, saved.tag) == ("set_stage", "mql", "")
