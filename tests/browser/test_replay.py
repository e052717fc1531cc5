"""A replay in a real browser: a marketer starts a replay of a draft from the admin, a
real Celery worker runs it while the page shows its progress, and the page then shows
the comparison tables and the ROC chart, drawn under the Content-Security-Policy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from scoring import model_file
from scoring.models import ReplayRun
from scoring.services import versions
from tests.browser.test_reports import CANVAS_DRAWN
from tests.routing.factories import PASSWORD
from tests.scoring.test_replay import DRAFT, history
from tests.scoring.test_replay_admin import marketing_user

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.conftest import Workers

pytestmark = [pytest.mark.browser]


def test_a_marketer_replays_a_draft_and_reads_the_comparison(
    browser: Browser, live_server: object, celery_workers: Workers
) -> None:
    base = str(live_server)
    history()
    draft = versions.draft_import(spec=model_file.load_data(DRAFT), user=None, name="forms matter more")
    user = marketing_user()
    celery_workers.start(1, concurrency=1)
    page = browser.new_context().new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{base}/admin/login/?next=/admin/scoring/replayrun/add/%3Fversion%3D{draft.pk}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/scoring/replayrun/add/?version={draft.pk}")
    assert page.locator("#id_version").input_value() == str(draft.pk)
    assert page.locator("#id_days").input_value() == "90"
    page.get_by_role("button", name="Save", exact=True).click()

    run = ReplayRun.objects.get()
    page.wait_for_url(f"{base}/admin/scoring/replayrun/{run.pk}/change/")
    # The page polls the run and shows the comparison once the worker is done.
    page.locator("#replay-groups").wait_for(timeout=60_000)
    assert page.locator("#replay-status").inner_text() == "Done"
    assert page.get_by_role("button", name="Cancel the replay").count() == 0
    groups = page.locator("#replay-groups tbody tr").all_inner_texts()
    assert [" ".join(row.split()) for row in groups] == ["No group 1 1", "Warm 4 2", "Hot 1 3"]
    moves = page.locator("#replay-moves tbody tr").all_inner_texts()
    assert [" ".join(row.split()) for row in moves] == ["Warm Hot 2"]
    assert page.locator("#replay-auc-live").inner_text() == "0.6667"
    assert page.locator("#replay-auc-draft").inner_text() == "0.5"
    assert "Forms" in page.locator("#replay-rules tbody tr").first.inner_text()
    assert page.locator("#replay-sample tbody tr").count() == 2
    page.wait_for_function(f"({CANVAS_DRAWN})(document.getElementById('replay-roc'))", timeout=10_000)
    assert int(page.locator("#replay-roc").get_attribute("data-drawn") or 0) > 0
    assert violations == []
