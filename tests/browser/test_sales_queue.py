"""The sales queue in a real browser: a rep claims, qualifies and wins the top
lead while a second rep is told it is taken; a marketer changes a routing rule
in the admin and the next crossing follows it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from routing import services
from routing.models import Outcome, QueueItem, RoutingAction, RoutingRule
from scoring import services as scoring
from scoring.models import Interaction, Lead, ScoreEntry
from scoring.rules import Dimension
from tests.factories import LeadFactory, ScoringRuleFactory
from tests.routing.factories import PASSWORD, QueueItemFactory, RepFactory, TeamFactory, marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def scored(first: str, last: str, points: int, reason: str) -> Lead:
    lead = LeadFactory.create(first_name=first, last_name=last, company="Analytical Engines")
    rule = ScoringRuleFactory.create(name=reason)
    now = timezone.now()
    ScoreEntry.objects.create(lead=lead, dimension="engagement", delta=points, cause="rule", rule=rule, occurred_at=now)
    Lead.objects.filter(pk=lead.pk).update(engagement_score=points)
    Interaction.objects.create(
        lead=lead,
        type="page_view",
        properties={"url": "https://shop.example/pricing"},
        occurred_at=now - timedelta(hours=2),
        idempotency_key=f"seen-{lead.pk}",
    )
    return lead


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/sales/")


def test_reps_work_the_queue_and_a_marketer_reroutes_in_the_admin(
    browser: Browser, live_server: object, tmp_path: Path
) -> None:
    base = str(live_server)
    north = TeamFactory.create(name="North", sla_hours=4, feedback_days=1)
    RepFactory.create(user__username="alice", user__first_name="Alice", team=north)
    RepFactory.create(user__username="bob", team=north)
    marketer(username="carol")
    top = scored("Ada", "Lovelace", 90, "Asked for a demo")
    second = scored("Charles", "Babbage", 55, "Opened the catalogue")
    for lead, hours in ((top, 1), (second, 30)):
        QueueItemFactory.create(lead=lead, team=north, entered_at=timezone.now() - timedelta(hours=hours))
    item = QueueItem.objects.get(lead=top)
    rule = RoutingRule.objects.create(key="hot", name="Hot leads to sales", trigger="score_rises_to", threshold=80)
    RoutingAction.objects.create(rule=rule, kind="route_to_queue", team=north)
    services.score_watches_sync()

    alice = browser.new_context().new_page()
    bob = browser.new_context().new_page()
    log_in(alice, base, "alice")
    log_in(bob, base, "bob")  # bob's page still offers the claim

    # Alice: the top lead first, with why and what it did lately.
    cards = alice.locator("ol.queue > li")
    assert cards.count() == 2
    first = cards.first
    assert first.get_attribute("id") == f"item-{item.pk}"
    assert "Ada Lovelace" in first.inner_text()
    assert "Asked for a demo" in first.inner_text()
    assert "shop.example/pricing" in first.inner_text()
    assert "Over SLA" in cards.nth(1).inner_text()  # Charles has waited 30 hours of 4
    # ... and has had no word from sales for 30 hours of the team's 1 day: 6 hours into day 1 overdue.
    badge = cards.nth(1).locator(".badge-feedback-overdue")
    assert badge.is_visible()
    assert badge.inner_text() == "Feedback overdue 1 day"
    assert first.locator(".badge-feedback-overdue").count() == 0
    alice.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

    first.get_by_role("button", name="Claim").click()
    expect(alice.locator(".messages")).to_contain_text("Claimed Ada Lovelace")

    bob.locator(f"#item-{item.pk}").get_by_role("button", name="Claim").click()
    expect(bob.locator(".messages")).to_contain_text("Already claimed by Alice.")
    assert bob.locator(f"#item-{item.pk}").count() == 0  # no longer in bob's queue

    card = alice.locator(f"#item-{item.pk}")
    card.get_by_role("button", name="Accept").click()
    expect(alice.locator(".messages")).to_contain_text("Accepted Ada Lovelace.")
    card.locator("summary", has_text=re.compile(r"^Qualify")).click()
    card.locator("input[name=budget]").fill("€20k this quarter")
    card.locator("input[name=authority]").fill("She signs")
    card.locator("input[name=need]").fill("Scores by hand today")
    card.locator("input[name=timeline]").fill("June")
    card.get_by_role("button", name="Qualify", exact=True).click()
    expect(alice.locator(".messages")).to_contain_text("Qualified Ada Lovelace.")
    alice.locator(f"#item-{item.pk}").get_by_label("Deal amount (optional)").fill("12,500")
    alice.locator(f"#item-{item.pk}").get_by_role("button", name="Mark won").click()
    expect(alice.locator(".messages")).to_contain_text("Marked Ada Lovelace won.")
    assert alice.locator(f"#item-{item.pk}").count() == 0
    item.refresh_from_db()
    assert item.owner is not None
    assert (item.status, item.budget, item.owner.username) == ("won", "€20k this quarter", "alice")
    assert Lead.objects.get(pk=top.pk).lifecycle_stage == "customer"
    assert str(Outcome.objects.get(item=item, kind="won").amount) == "12500.00"

    # Carol lowers the rule's threshold in the admin; the next crossing follows it.
    quiet = LeadFactory.create(first_name="Linus", last_name="Before")
    scoring.lead_adjust_score(lead_id=quiet.pk, dimension=Dimension.ENGAGEMENT, delta=65, note="webinar")
    services.transitions_route()
    assert not QueueItem.objects.filter(lead=quiet).exists()  # 65 is under 80

    admin = browser.new_context().new_page()
    admin.goto(f"{base}/admin/login/?next=/admin/routing/routingrule/{rule.pk}/change/")
    admin.fill("#id_username", "carol")
    admin.fill("#id_password", PASSWORD)
    admin.locator("input[type=submit]").click()
    admin.wait_for_url(re.compile(rf".*/admin/routing/routingrule/{rule.pk}/change/$"))
    admin.fill("#id_threshold", "60")
    admin.locator("input[name=_save]").click()
    expect(admin.locator(".messagelist")).to_contain_text("was changed successfully")

    grace = LeadFactory.create(first_name="Grace", last_name="Hopper")
    scoring.lead_adjust_score(lead_id=grace.pk, dimension=Dimension.ENGAGEMENT, delta=65, note="webinar")
    services.transitions_route()
    alice.goto(f"{base}/sales/")
    assert "Grace Hopper" in alice.locator("ol.queue").inner_text()
    assert "Linus Before" not in alice.locator("ol.queue").inner_text()

    # And the marketer has no sales queue.
    response = admin.goto(f"{base}/sales/")
    assert response is not None
    assert response.status == 403
