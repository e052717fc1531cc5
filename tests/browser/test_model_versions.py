"""Model versions in a real browser, as a marketer sees them: a draft started from the
live model, a rule's points changed in it (with how many leads it matches now), a
group's threshold lowered, the last 90 days replayed under the draft beside the live
model (a real worker runs it), the publish screen's count of leads crossing it, and
the live model after publishing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from scoring import services
from scoring.models import ModelVersion, ReplayRun, ScoreGroup, ScoringRule
from tests.browser.signing_in import admin_sign_in
from tests.browser.test_reports import CANVAS_DRAWN
from tests.routing.factories import PASSWORD, marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.conftest import Workers

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

TOY_STORE = Path(__file__).resolve().parents[2] / "examples" / "toy_store.yaml"


def test_a_marketer_edits_a_draft_sees_what_it_would_move_and_publishes_it(
    browser: Browser, live_server: object, tmp_path: Path, celery_workers: Workers
) -> None:
    base = str(live_server)
    celery_workers.start(1, concurrency=1)
    call_command("scoring_model_import", "--publish", str(TOY_STORE))
    marketer(username="dana")
    for n in range(3):
        services.lead_upsert(email=f"sj{n}@example.com", fields={"city": "San José"})  # 8 fit points each

    page = browser.new_context().new_page()
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.get_by_role("link", name="Model versions").click()
    listing = page.locator("#result_list").inner_text()
    assert "Version 1" in listing
    assert "Live" in listing

    # A new draft, copied from the live model.
    page.get_by_role("link", name=re.compile("Add model version")).click()
    page.fill("#id_name", "Locals count more")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("made from the live model")
    page.screenshot(path=str(tmp_path / "draft.png"), full_page=True)

    # The San José rule: 20 points instead of 8; its page says how many leads it matches.
    page.locator("tr", has_text="Lives or works in San José").get_by_role("link", name="Edit").click()
    page.fill("#id_points", "20")
    with page.expect_navigation():  # "Save and continue" comes back to the same address
        page.locator("input[name=_continue]").click()
    assert "matches 3 leads now" in page.locator("body").inner_text()
    page.locator("input[name=_save]").click()
    page.wait_for_url(re.compile(r".*/admin/scoring/modelversion/\d+/change/$"))

    # The Nurture group from 5 points instead of 40.
    page.locator("tr", has_text="nurture").get_by_role("link", name="Edit").click()
    page.fill("#id_min_score", "5")
    page.locator("input[name=_save]").click()
    page.wait_for_url(re.compile(r".*/admin/scoring/modelversion/\d+/change/$"))
    # The live model is as it was.
    assert ScoringRule.objects.get(key="lives-or-works-in-san-jose").points == 8
    assert ScoreGroup.objects.get(key="nurture").min_score == 40
    draft_page = page.url

    # Replay the last 90 days under the draft: the three locals would move into Nurture.
    page.get_by_role("link", name="Replay last 90 days").click()
    assert page.locator("#id_days").input_value() == "90"
    page.get_by_role("button", name="Save", exact=True).click()
    run = ReplayRun.objects.get()
    page.wait_for_url(f"{base}/admin/scoring/replayrun/{run.pk}/change/")
    page.locator("#replay-groups").wait_for(timeout=60_000)
    moves = [" ".join(row.split()) for row in page.locator("#replay-moves tbody tr").all_inner_texts()]
    assert moves == ["No group Nurture 3"], moves
    page.wait_for_function(f"({CANVAS_DRAWN})(document.getElementById('replay-roc'))", timeout=10_000)
    page.screenshot(path=str(tmp_path / "replay.png"), full_page=True)
    assert ScoringRule.objects.get(key="lives-or-works-in-san-jose").points == 8  # replaying wrote nothing live
    page.goto(draft_page)

    page.get_by_role("link", name="Publish…").first.click()
    crossings = page.locator("#crossings").inner_text()
    assert re.search(r"no group\s+Nurture\s+3", crossings), crossings
    page.screenshot(path=str(tmp_path / "publish.png"), full_page=True)
    page.fill("#id_note", "Local parents buy more")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".messagelist")).to_contain_text("is live")
    listing = page.locator("#result_list").inner_text()
    assert "Version 2: Locals count more" in listing
    assert "Local parents buy more" in listing
    assert "Restore as draft" in listing

    # The live rules page shows the new points.
    page.goto(f"{base}/admin/scoring/scoringrule/")
    row = page.locator("#result_list tr", has_text="Lives or works in San José").inner_text()
    assert "20" in row
    assert ModelVersion.objects.get(number=2).status == ModelVersion.Status.LIVE


def test_a_marketer_imports_a_model_file_as_a_draft(browser: Browser, live_server: object, tmp_path: Path) -> None:
    marketer(username="dana")
    broken = tmp_path / "broken.yaml"
    broken.write_text("leadflow_model: 1\nscore_groups:\n  - {key: hot, name: Hot, min_score: high}\n")

    page = browser.new_context().new_page()
    admin_sign_in(page, str(live_server), "dana", then="/admin/scoring/modelversion/")
    page.get_by_role("link", name="Import a model file").click()
    expect(page.locator("#content")).to_contain_text("Nothing changes for your leads until you publish it")

    page.set_input_files("#id_file", str(broken))
    page.get_by_role("button", name="Make a draft from the file").click()
    expect(page.locator("#problems")).to_contain_text("The file has a problem; no draft was made")
    expect(page.locator("#problems")).to_contain_text("score_groups[0].min_score")
    page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
    assert not ModelVersion.objects.exists()

    page.set_input_files("#id_file", str(TOY_STORE))
    page.get_by_role("button", name="Make a draft from the file").click()
    page.wait_for_url(re.compile(r".*/admin/scoring/modelversion/\d+/change/$"))
    expect(page.locator(".messagelist")).to_contain_text("made from the file")
    expect(page.locator("body")).to_contain_text("Lives or works in San José")
    page.screenshot(path=str(tmp_path / "draft.png"), full_page=True)
    assert not ScoringRule.objects.exists()  # live only once published


def test_a_marketer_makes_a_draft_of_a_whole_model_s_scoring_part(
    browser: Browser, live_server: object, tmp_path: Path
) -> None:
    marketer(username="dana")
    whole = tmp_path / "whole.yaml"
    whole.write_text(
        TOY_STORE.read_text(encoding="utf-8") + "account_groups:\n  - {key: hot, name: Hot, min_score: 80}\n",
        encoding="utf-8",
    )
    page = browser.new_context().new_page()
    admin_sign_in(page, str(live_server), "dana", then="/admin/scoring/modelversion/import/")
    page.set_input_files("#id_file", str(whole))
    page.get_by_role("button", name="Make a draft from the file").click()
    expect(page.locator("#problems")).to_contain_text("which are not kept in drafts")
    expect(page.locator("#problems")).to_contain_text("tick “Only its scoring part” and upload it again")
    assert not ModelVersion.objects.exists()

    page.set_input_files("#id_file", str(whole))
    page.get_by_label("Only its scoring part").check()
    page.get_by_role("button", name="Make a draft from the file").click()
    page.wait_for_url(re.compile(r".*/admin/scoring/modelversion/\d+/change/$"))
    expect(page.locator(".messagelist")).to_contain_text("the rest of the file was left out and is as it was here")
    expect(page.locator("body")).to_contain_text("Lives or works in San José")
    assert not ScoreGroup.objects.exists()  # nothing live until it is published
