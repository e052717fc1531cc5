"""What a rep typed that the server refuses (an amount that is no number, a BANT field of
blanks, a reason of spaces) comes back in the form it was typed in: the form open, what
was typed still there, the reason under the field and the cursor in it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from routing.models import Outcome, QueueItem
from tests.browser.test_sales_queue import log_in
from tests.factories import LeadFactory
from tests.routing.factories import QueueItemFactory, RepFactory

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_refused_form_keeps_what_was_typed_and_says_why_at_the_field(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    rep = RepFactory.create(user__username="alice")
    lead = LeadFactory.create(first_name="Ada", last_name="Lovelace")
    item = QueueItemFactory.create(lead=lead, team=rep.team, owner=rep.user, status=QueueItem.Status.ACCEPTED)
    page = browser.new_page()
    log_in(page, base, "alice")
    card = page.locator(f"#item-{item.pk}")

    card.get_by_label("Deal amount (optional)").fill("twelve grand")
    card.get_by_role("button", name="Mark won").click()
    card = page.locator(f"#item-{item.pk}")
    amount = card.get_by_label("Deal amount (optional)")
    expect(amount).to_have_value("twelve grand")
    expect(amount).to_be_focused()
    expect(amount).to_have_accessible_description("A number such as 12500 or 12500.50, or nothing.")

    card.get_by_text("Qualify (BANT)…").click()
    card.get_by_label("Budget", exact=True).fill("€20k this quarter")
    card.get_by_label("Authority", exact=True).fill("   ")
    card.get_by_label("Need", exact=True).fill("Scores by hand today")
    card.get_by_label("Timeline", exact=True).fill("June")
    card.get_by_role("button", name="Qualify", exact=True).click()
    card = page.locator(f"#item-{item.pk}")
    expect(card.get_by_label("Budget", exact=True)).to_be_visible()  # the form is open again
    expect(card.get_by_label("Budget", exact=True)).to_have_value("€20k this quarter")
    expect(card.get_by_label("Timeline", exact=True)).to_have_value("June")
    authority = card.get_by_label("Authority", exact=True)
    expect(authority).to_be_focused()
    expect(authority).to_have_accessible_description("Say what you learned about the lead's authority.")
    expect(card.get_by_label("Budget", exact=True)).not_to_have_attribute("aria-invalid", "true")
    # The other forms stay as they were: closed, empty, without errors.
    expect(card.get_by_label("Why was it lost?")).to_be_hidden()
    expect(card.get_by_label("Deal amount (optional)")).to_have_value("")

    card.get_by_label("Authority", exact=True).fill("She signs")
    card.get_by_role("button", name="Qualify", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Qualified Ada Lovelace.")
    item.refresh_from_db()
    assert (item.status, item.budget, item.authority) == ("qualified", "€20k this quarter", "She signs")

    # In Spanish, the reason under the field is in Spanish too.
    page.context.add_cookies([{"name": "django_language", "value": "es", "url": base}])
    page.goto(f"{base}/sales/")
    card = page.locator(f"#item-{item.pk}")
    card.get_by_text("Marcar perdido…").click()
    card.get_by_label("¿Por qué se perdió?").fill("   ")
    card.get_by_role("button", name="Marcar perdido", exact=True).click()
    reason = page.locator(f"#item-{item.pk}").get_by_label("¿Por qué se perdió?")
    expect(reason).to_be_focused()
    expect(reason).to_have_accessible_description("Di por qué.")
    assert not Outcome.objects.filter(item=item, kind="lost").exists()

    # A Spanish rep writes the amount as Spanish writes figures: a dot between thousands,
    # a comma before the cents.
    card = page.locator(f"#item-{item.pk}")
    card.get_by_label("Importe del negocio (opcional)").fill("18.500,50")
    card.get_by_role("button", name="Marcar ganado").click()
    expect(page.get_by_role("status")).to_have_text("Marcaste a Ada Lovelace como ganado.")
    assert str(Outcome.objects.get(item=item, kind="won").amount) == "18500.50"


def test_a_deal_amount_with_a_currency_sign_is_kept_as_its_figure(browser: Browser, live_server: object) -> None:
    """A rep in the United States writes a price as a price: "$24,000" wins the deal at 24000."""
    base = str(live_server)
    rep = RepFactory.create(user__username="sam")
    lead = LeadFactory.create(first_name="Jo", last_name="Rivera")
    item = QueueItemFactory.create(lead=lead, team=rep.team, owner=rep.user, status=QueueItem.Status.ACCEPTED)
    page = browser.new_page()
    log_in(page, base, "sam")
    card = page.locator(f"#item-{item.pk}")

    card.get_by_label("Deal amount (optional)").fill("$24,000")
    card.get_by_role("button", name="Mark won").click()

    expect(page.get_by_role("status")).to_have_text("Marked Jo Rivera won.")
    assert str(Outcome.objects.get(item=item, kind="won").amount) == "24000.00"
