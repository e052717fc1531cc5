"""A marketer imports leads from a CSV file in a real browser: uploads the file and its
mapping, watches the import's progress until a real Celery worker has finished it, and
reads the counts and the row that was set aside, with its column and reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from intake.models import LeadImport
from scoring.models import Lead
from tests.conftest import Workers
from tests.routing.factories import PASSWORD, marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser]

ROWS = ["Email,First name,Visits,Result"]
ROWS += [f"lead{n}@example.com,Lead {n},{n % 7} visits,{'Won' if n % 3 == 0 else 'Lost'}" for n in range(1, 2500)]
ROWS.insert(42, "not an email,Broken,1,Won")
MAPPING = """key: {column: Email, field: email}
fields: {First name: first_name}
activity: {Visits: visits}
outcome: {column: Result, won: [Won], lost: [Lost]}
"""


def test_a_marketer_uploads_a_csv_and_watches_it_import(
    browser: Browser, live_server: object, celery_workers: Workers, tmp_path: Path
) -> None:
    celery_workers.start(1)
    marketer(username="mia")
    csv_file = tmp_path / "webinar leads.csv"
    csv_file.write_text("\r\n".join(ROWS) + "\r\n", encoding="utf-8")
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(MAPPING, encoding="utf-8")

    page = browser.new_context().new_page()
    page.goto(f"{live_server}/admin/login/?next=/admin/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.get_by_role("link", name="Lead imports").click()
    page.get_by_role("link", name=re.compile("Add lead import")).click()
    page.locator("#id_csv_file").wait_for()
    assert "The column that tells leads apart" in page.locator("#leadimport_form").inner_text()

    page.set_input_files("#id_csv_file", str(csv_file))
    page.set_input_files("#id_mapping_file", str(mapping_file))
    page.locator("input[name=_save]").click()

    box = page.locator("#lead-import")
    box.wait_for()
    # The page asks the server until the worker is done: no reload.
    page.locator("#lead-import[data-status=done]").wait_for(timeout=120_000)
    assert box.locator("progress").get_attribute("value") == "100"
    assert box.locator(".li-percent").inner_text() == "100%"
    assert box.locator(".li-created").inner_text() == "2499"
    assert box.locator(".li-set_aside").inner_text() == "1"
    assert box.locator(".li-outcomes").inner_text() == "2499"
    problem = box.locator(".li-errors tbody tr")
    assert problem.count() == 1
    cells = problem.inner_text()
    assert "43" in cells  # the header is row 1
    assert "Email" in cells
    assert "not a valid email address" in cells
    page.screenshot(path=str(tmp_path / "lead-import.png"), full_page=True)

    assert LeadImport.objects.get().status == LeadImport.Status.DONE
    assert Lead.objects.count() == 2499
