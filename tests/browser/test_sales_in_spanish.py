"""A rep whose phone reads Spanish works a lead on the sales page: every figure is
written as Spanish writes it, and the amounts they type are read the same way."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from routing.models import Outcome, QueueItem
from scoring.models import Account
from tests.factories import LeadFactory
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory

from .signing_in import site_sign_in_in_spanish

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_rep_reading_spanish_sees_and_types_figures_as_spanish_writes_them(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    team = TeamFactory.create(name="Norte")
    rep = RepFactory.create(user__username="maria", team=team)
    account = Account.objects.create(name="Banco del Valle", domain="banco-del-valle.example")
    Account.objects.filter(pk=account.pk).update(lead_score=5865)
    lead = LeadFactory.create(first_name="Gabriela", last_name="Rojas", account=account)
    item = QueueItemFactory.create(lead=lead, team=team, owner=rep.user, status=QueueItem.Status.QUALIFIED)

    page = browser.new_context(locale="es-ES", viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    site_sign_in_in_spanish(page, base, "maria", lands_on="/sales/")
    card = page.locator(f"#item-{item.pk}")
    expect(card.locator(".account")).to_contain_text("Su cuenta Banco del Valle: puntuación 5.865")

    card.get_by_label("Importe del negocio (opcional)").fill("1.234,50")
    card.get_by_role("button", name="Marcar ganado").click()
    expect(page.locator(".messages")).to_contain_text("Marcaste a Gabriela Rojas como ganado.")
    assert Outcome.objects.get(item=item, kind="won").amount == Decimal("1234.50")
