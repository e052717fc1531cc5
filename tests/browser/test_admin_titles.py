"""The admin's titles of a decay run, a rescore job, a lead's moves, an interaction, a
ledger row, a nurture step and a trained model read in the reader's language: Django
writes them in the page's heading and breadcrumbs from the row's own name."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model

from nurture.models import Delivery, Enrollment
from routing.models import ActionRun
from scoring.models import DecayRun, GroupTransition, RescoreJob, ScoreEntry, StageChange, TrainedModel
from scoring.said import said
from tests.browser.signing_in import admin_sign_in
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import PASSWORD
from tests.routing.factories import rule as routing_rule

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ENGLISH = ["Decay of", "Rescore ", "Regroup ", " by lead ", " for lead ", "step", "Predictive model", " points"]


def title(page: Page, base: str, path: str) -> str:
    page.goto(f"{base}{path}")
    shown = page.locator("#content h2").first.inner_text()
    assert page.locator(".breadcrumbs").inner_text().endswith(shown)
    return shown


def test_a_spanish_reader_reads_the_admin_s_titles_in_spanish(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    get_user_model().objects.create_superuser("ana", "ana@example.com", PASSWORD)
    hot = ScoreGroupFactory.create(name="Hot", min_score=50)
    lead = LeadFactory.create(score_group=hot)
    run = DecayRun.objects.create(day=date(2026, 11, 2), started_at=T0, leads=1234, points=-2468)
    job = RescoreJob.objects.create(kind=RescoreJob.Kind.RESCORE, total=2000, done=1000, status=RescoreJob.Status.DONE)
    moved = GroupTransition.objects.create(
        lead=lead, to_group=hot, direction="up", previous_total=0, total_score=60, cause="rule", occurred_at=T0
    )
    staged = StageChange.objects.create(lead=lead, from_stage="", to_stage="mql", at=T0, cause="sales")
    visit = InteractionFactory.create(lead=lead, type="page_view", occurred_at=T0)
    row = ScoreEntry.objects.create(lead=lead, dimension="engagement", delta=5, cause="rule", occurred_at=T0)
    step = StepFactory.create(sequence=SequenceFactory.create(key="welcome"), position=2)
    enrollment = Enrollment.objects.create(lead=lead, sequence=step.sequence, enrolled_at=T0, next_run_at=T0)
    delivery = Delivery.objects.create(enrollment=enrollment, step=step, message_id="m-1", created_at=T0, updated_at=T0)
    trained = TrainedModel.objects.create(number=3, algorithm="logistic_regression", fitted=b"")
    hook = routing_rule("enters_group", {"kind": "webhook", "url": "https://crm.example/hook"}, group=hot)
    queued = said("webhook queued")  # as routing writes it
    ActionRun.objects.create(
        transition=moved, action=hook.actions.get(), outcome=queued.english(), outcome_said=queued.stored()
    )

    page = browser.new_context(locale="es-ES", timezone_id="UTC").new_page()
    admin_sign_in(page, base, "ana")

    shown = {
        "decay": title(page, base, f"/admin/scoring/decayrun/{run.pk}/change/"),
        "job": title(page, base, f"/admin/scoring/rescorejob/{job.pk}/change/"),
        "move": title(page, base, f"/admin/scoring/grouptransition/{moved.pk}/change/"),
        "visit": title(page, base, f"/admin/scoring/interaction/{visit.pk}/change/"),
        "row": title(page, base, f"/admin/scoring/scoreentry/{row.pk}/change/"),
        "trained": title(page, base, f"/admin/scoring/trainedmodel/{trained.pk}/change/"),
    }
    assert shown["decay"] == "Decaimiento del 02/11/2026: 1.234 leads, -2.468 puntos"
    assert shown["job"] == f"Repuntuación {job.pk}: 1.000 de 2.000 leads (Terminado)"
    assert shown["move"] == f"Lead {lead.pk}: Sin grupo → Hot (Regla)"
    assert shown["visit"] == f"page_view del lead {lead.pk} el 02/11/2026 09:30"
    assert shown["row"] == f"+5 puntos de Interacción para el lead {lead.pk} (Regla)"
    assert shown["trained"] == "Modelo predictivo 3"
    for english in ENGLISH:
        for key, text in shown.items():
            assert english not in text, (key, text)

    # What routing did names the move by its groups, as its page does.
    page.goto(f"{base}/admin/routing/actionrun/")
    assert page.locator("#result_list td.field-transition").inner_text() == shown["move"]
    assert page.locator("#result_list td.field-outcome_shown").inner_text() == "webhook en cola"

    # A nurture step is named in its deliveries' list, a stage change on its lead's timeline.
    page.goto(f"{base}/admin/nurture/delivery/?q=m-1")
    assert page.locator("#result_list td.field-step").inner_text() == "welcome, paso 2"
    assert str(delivery.step) == "welcome step 2"  # in English where no reader's language is set
    assert str(staged) == f"Lead {lead.pk}: stage (new) → Marketing qualified lead (Sales)"
