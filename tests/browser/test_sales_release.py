"""A rep reading Spanish hands a lead they claimed back to the team's queue, saying why;
another rep of the team then finds it waiting there and claims it. And an administrator
hands back the leads of a rep who is away, from the admin's queue items."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from routing import sales
from routing.models import Outcome, QueueItem
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, UserFactory

from .signing_in import admin_sign_in, site_sign_in_in_spanish

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_rep_hands_a_lead_back_and_another_rep_claims_it_from_the_queue(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    team = TeamFactory.create(name="Norte")
    maria = RepFactory.create(user__username="maria", user__first_name="María", user__last_name="Pardo", team=team)
    RepFactory.create(user__username="jorge", team=team)
    item = QueueItemFactory.create(lead__first_name="Gabriela", lead__last_name="Rojas", team=team)
    sales.item_claim(item_id=item.pk, user=maria.user)

    jorge = browser.new_context(locale="es-ES").new_page()
    site_sign_in_in_spanish(jorge, base, "jorge", lands_on="/sales/")
    expect(jorge.locator(f"#item-{item.pk}")).to_have_count(0)  # María's, not in Jorge's queue

    page = browser.new_context(locale="es-ES").new_page()
    site_sign_in_in_spanish(page, base, "maria", lands_on="/sales/")
    card = page.locator(f"#item-{item.pk}")
    expect(card.locator(".pill")).to_have_text("Tomado")
    card.locator("summary", has_text="Devolver a la cola").click()
    card.get_by_label("¿Por qué lo devuelves? (opcional)").fill("Me voy de vacaciones")
    card.get_by_role("button", name="Devolver a la cola", exact=True).click()

    expect(page.locator(".messages")).to_have_text(
        "Gabriela Rojas vuelve a la cola de Norte: cualquier vendedor puede tomarlo."
    )
    # Still on María's page, now as the team's: waiting, for anyone to claim.
    expect(card.locator(".pill")).to_have_text("Sin tomar")
    expect(card.get_by_role("button", name="Tomar")).to_be_visible()
    expect(card.locator("summary", has_text="Devolver a la cola")).to_have_count(0)

    jorge.reload()
    theirs = jorge.locator(f"#item-{item.pk}")
    expect(theirs).to_contain_text("Gabriela Rojas")
    theirs.get_by_role("button", name="Tomar").click()
    expect(jorge.locator(".messages")).to_contain_text("Tomaste a Gabriela Rojas")

    item.refresh_from_db()
    assert item.owner is not None
    assert (item.status, item.owner.username) == (QueueItem.Status.CLAIMED, "jorge")
    released = Outcome.objects.get(item=item, kind=Outcome.Kind.RELEASED)
    assert (released.user_id, released.reason) == (maria.user_id, "Me voy de vacaciones")


def test_an_administrator_hands_back_the_leads_of_a_rep_who_is_away(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    team = TeamFactory.create(name="North")
    away = RepFactory.create(user__username="mrep", user__first_name="María", user__last_name="Rep", team=team)
    jorge_rep = RepFactory.create(user__username="jorge", user__first_name="Jorge", user__last_name="Ruiz", team=team)
    UserFactory.create(username="boss", first_name="Ana", last_name="Admin", is_staff=True, is_superuser=True)
    item = QueueItemFactory.create(lead__first_name="Ada", lead__last_name="Lovelace", team=team)
    sales.item_claim(item_id=item.pk, user=away.user)
    QueueItem.objects.filter(pk=item.pk).update(claimed_at=datetime(2027, 3, 1, 9, 30, tzinfo=UTC))
    taken = QueueItemFactory.create(lead__first_name="Grace", lead__last_name="Hopper", team=team)
    sales.item_claim(item_id=taken.pk, user=away.user)

    page = browser.new_context().new_page()
    admin_sign_in(page, base, "boss", then="/admin/routing/queueitem/")
    row = page.locator(f"#result_list tr:has(input.action-select[value='{item.pk}'])")
    expect(row.locator(".field-owner_name")).to_have_text("María Rep")
    for chosen in (item, taken):
        page.locator(f"input.action-select[value='{chosen.pk}']").check()
    page.select_option("select[name=action]", "release")
    page.get_by_role("button", name="Go").click()

    # A page to confirm on: each lead, who holds it and since when; nothing released yet.
    expect(page.locator("#content h1")).to_have_text("Release the selected leads to their team's queue?")
    listed = page.locator(f"#release-{item.pk} td")
    expect(listed).to_have_text(
        [f"Ada Lovelace ({item.lead})", "North", "María Rep", "claimed March 1, 2027, 9:30 a.m."]
    )
    expect(page.locator(f"#release-{taken.pk} td").nth(2)).to_have_text("María Rep")
    page.get_by_label("Why? (optional)").fill("María is on leave")
    # Meanwhile María hands one lead back and Jorge claims it: that one stays his.
    sales.item_release(item_id=taken.pk, user=away.user)
    sales.item_claim(item_id=taken.pk, user=jorge_rep.user)
    page.get_by_role("button", name="Yes, release them").click()

    messages = page.locator(".messagelist")
    expect(messages).to_contain_text("1 lead back in its team's queue, for any rep to claim.")
    expect(messages).to_contain_text("(Grace Hopper, now held by Jorge Ruiz)")
    expect(row.locator(".field-status")).to_have_text("Waiting")
    taken_row = page.locator(f"#result_list tr:has(input.action-select[value='{taken.pk}'])")
    expect(taken_row.locator(".field-owner_name")).to_have_text("Jorge Ruiz")
    released = Outcome.objects.get(item=item, kind=Outcome.Kind.RELEASED)
    assert (released.reason, released.holder_id) == ("María is on leave", away.user_id)

    jorge = browser.new_context(locale="es-ES").new_page()
    site_sign_in_in_spanish(jorge, base, "jorge", lands_on="/sales/")
    expect(jorge.locator(f"#item-{item.pk}").get_by_role("button", name="Tomar")).to_be_visible()
