"""The score groups' list in the admin says how many leads each group has now, each a
link to those leads, in the list's own query (not one per group)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scoring.models import Lead, ScoreGroup
from tests.factories import LeadFactory, ScoreGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def counts(page: str) -> dict[str, str]:
    """Group name -> the "Leads now" cell of its row."""
    rows = re.findall(
        r'<tr[^>]*>.*?class="field-name"[^>]*>(?:<a [^>]*>)?([^<]+).*?class="field-lead_count">(.*?)</td>', page, re.S
    )
    return {html.unescape(name): re.sub(r"<[^>]+>", "", cell) for name, cell in rows}


def group_with(name: str, minimum: int, leads: int) -> ScoreGroup:
    group = ScoreGroupFactory.create(name=name, min_score=minimum)
    for _ in range(leads):
        Lead.objects.filter(pk=LeadFactory.create().pk).update(score_group=group)
    return group


def test_each_group_shows_its_leads_and_links_to_them(admin: Client) -> None:
    warm = group_with("Warm", 40, 3)
    group_with("Hot", 80, 1)
    group_with("Empty", 120, 0)
    LeadFactory.create()  # in no group
    page = admin.get(reverse("admin:scoring_scoregroup_changelist")).content.decode()
    assert "Leads now" in page
    assert counts(page) == {"Warm": "3", "Hot": "1", "Empty": "0"}
    link = reverse("admin:scoring_lead_changelist") + f"?score_group__id__exact={warm.pk}"
    assert f'href="{html.escape(link)}"' in page or f'href="{link}"' in page
    listed = admin.get(link).content.decode()
    assert "3 leads" in listed


def test_the_counts_cost_no_query_per_group(admin: Client) -> None:
    url = reverse("admin:scoring_scoregroup_changelist")
    group_with("Warm", 40, 2)
    admin.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            admin.get(url)
        return len(captured.captured_queries)

    few = queries()
    for i in range(5):
        group_with(f"Group {i}", 100 + 10 * i, i)
    assert queries() == few
