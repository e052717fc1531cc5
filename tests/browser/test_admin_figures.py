"""The admin's lists write their figures as the rest of Leadflow does: a Spanish reader
sees 1.234 in a list of decay runs, score groups or accounts, as in a report."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.test import RequestFactory

from scoring.models import Account, DecayRun, Lead
from tests.browser.signing_in import admin_sign_in
from tests.factories import ScoreGroupFactory
from tests.routing.factories import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Other projects' pages: not Leadflow's to change.
THEIRS = {"django_celery_beat", "axes", "auth"}


def cells(page: object, column: str) -> list[str]:
    return [text.strip() for text in page.locator(f"#result_list td.field-{column}").all_text_contents()]  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.usefixtures("transactional_db")
def test_a_spanish_reader_sees_the_admin_lists_figures_grouped(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    get_user_model().objects.create_superuser("ana", "ana@example.com", PASSWORD)
    DecayRun.objects.create(
        day=date(2026, 11, 2), started_at=datetime(2026, 11, 2, 2, tzinfo=UTC), leads=1234, points=-2468
    )
    hot = ScoreGroupFactory.create(name="Hot", min_score=1500)
    account = Account.objects.create(name="Acme", domain="acme.example")
    Lead.objects.bulk_create(Lead(email=f"lead{n}@acme.example", score_group=hot, account=account) for n in range(1200))

    page = browser.new_context(locale="es-ES").new_page()
    admin_sign_in(page, base, "ana")

    page.goto(f"{base}/admin/scoring/decayrun/")
    assert cells(page, "leads") == ["1.234"]
    assert cells(page, "points") == ["-2.468"]

    page.goto(f"{base}/admin/scoring/scoregroup/")
    assert cells(page, "min_score") == ["1.500"]
    # Still sorted by the column, as before.
    page.locator("#result_list th.column-min_score .text a").click()
    page.wait_for_url("**o=*")
    assert cells(page, "lead_count") == ["1.200"]

    page.goto(f"{base}/admin/scoring/account/")
    assert cells(page, "lead_count") == ["1.200"]


@pytest.mark.django_db
def test_every_number_column_of_leadflows_admin_lists_is_written_grouped(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.user = get_user_model()(is_superuser=True, is_staff=True)
    bare = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in THEIRS:
            continue
        for name in model_admin.get_list_display(request):
            if name in model_admin.list_editable:
                continue  # an input, not a figure
            field = next((f for f in model._meta.concrete_fields if f.name == name), None)
            numeric = isinstance(field, models.IntegerField | models.FloatField | models.DecimalField)
            if numeric and field is not None and not field.primary_key and not field.choices:
                bare.append(f"{model._meta.label}.{name}")
    assert bare == []
