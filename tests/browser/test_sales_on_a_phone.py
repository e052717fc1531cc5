"""The sales queue on a phone (375 px wide, as an iPhone SE or 13 mini shows it): the
header and the page fit the screen, nothing runs off the side."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from scoring.models import Interaction, Lead, ScoreEntry
from tests.factories import LeadFactory, ScoreGroupFactory, ScoringRuleFactory
from tests.routing.factories import PASSWORD, QueueItemFactory, RepFactory, TeamFactory

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

WIDTH = 375


def test_the_header_and_the_queue_fit_a_phone(browser: Browser, live_server: object, tmp_path: Path) -> None:
    base = str(live_server)
    team = TeamFactory.create(name="Personal shoppers of the north coast", sla_hours=4)
    RepFactory.create(
        user__username="maria", user__first_name="María Fernanda", user__last_name="Quirós Villalobos", team=team
    )
    lead = LeadFactory.create(
        first_name="Bartholomew",
        last_name="Featherstonehaugh",
        company="Analytical Engines and Difference Machines",
        email="bartholomew.featherstonehaugh@analytical-engines.example",
        score_group=ScoreGroupFactory.create(name="Preferential"),
    )
    QueueItemFactory.create(lead=lead, team=team)

    context = browser.new_context(viewport={"width": WIDTH, "height": 740}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "maria")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/sales/")
    page.screenshot(path=str(tmp_path / "queue-375.png"), full_page=True)

    # Everything the header holds is on screen and inside the bar, each on one line (not
    # squeezed into a column of words spilling out of it): brand, queue link, who, log out.
    header = page.locator("header.topbar")
    bar = header.bounding_box()
    assert bar is not None
    for part in [".brand", ".topnav a", ".whoami > span", ".whoami button"]:
        box = header.locator(part).bounding_box()
        assert box is not None, part
        assert box["x"] >= 0, part
        assert box["x"] + box["width"] <= WIDTH, f"{part} ends at {box['x'] + box['width']} px"
        assert bar["y"] <= box["y"], f"{part} starts above the bar"
        assert box["y"] + box["height"] <= bar["y"] + bar["height"], f"{part} spills out of the bar"
        assert box["height"] <= 40, f"{part} takes {box['height']} px: wrapped onto several lines"
    assert header.get_by_role("button", name="Log out").is_visible()
    assert header.get_by_role("link", name="Sales queue").is_visible()

    # The score group's name is inside the score's box, not running out of it.
    score = page.locator(".score").bounding_box()
    group = page.locator(".score-group").bounding_box()
    assert score is not None
    assert group is not None
    assert score["x"] <= group["x"], (score, group)
    assert group["x"] + group["width"] <= score["x"] + score["width"], (score, group)

    # No element makes the page wider than the screen (no sideways scrolling).
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth]")
    assert max(widths) <= WIDTH, widths
    overflowing = page.evaluate(
        """(width) => Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > width + 0.5 && e.getClientRects().length)
            .filter(e => !e.closest('[style*=\"overflow\"]'))
            .map(e => e.tagName + '.' + e.className)""",
        WIDTH,
    )
    assert overflowing == []


def test_a_long_reason_and_a_long_link_are_cut_short_on_a_phone(browser: Browser, live_server: object) -> None:
    """A rule's long name in "Why this score" and a long page address in the recent
    activity are cut short inside the card: they made the card, and the page, wider than
    a 390 px phone, so the rep scrolled sideways to reach the buttons."""
    base = str(live_server)
    team = TeamFactory.create(name="North")
    RepFactory.create(user__username="maria", team=team)
    lead = LeadFactory.create(first_name="Ada", last_name="Lovelace")
    now = timezone.now()
    rule = ScoringRuleFactory.create(name="Persona: buys for a child, a classroom or a collection of her own")
    ScoreEntry.objects.create(lead=lead, dimension="fit", delta=5, cause="rule", rule=rule, occurred_at=now)
    Lead.objects.filter(pk=lead.pk).update(fit_score=5)
    Interaction.objects.create(
        lead=lead,
        type="page_view",
        properties={"url": "https://toys.example/landing/holiday-gifts-for-the-whole-classroom-of-twenty"},
        occurred_at=now - timedelta(hours=2),
        idempotency_key="long-link",
    )
    QueueItemFactory.create(lead=lead, team=team)

    page = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "maria")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/sales/")

    card = page.locator("li.card").bounding_box()
    assert card is not None
    assert card["x"] + card["width"] <= 390, card
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert page.get_by_role("button", name="Claim").is_visible()
