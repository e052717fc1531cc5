"""An SLA is at most ten years: the admin and the model file refuse a longer one on its
field, and a longer one already stored (from before the bound) never stops the escalation
or the reports: no instant is that long before now, so nothing is past it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from reports import overview
from routing import sla
from routing.models import QueueItem, Team
from scoring import model_file
from tests.routing.factories import QueueItemFactory, TeamFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
SLA_HOURS_MAX = 10 * 365 * 24


def team_form(sla_hours: int) -> dict[str, str]:
    return {
        "name": "Sales",
        "key": "sales",
        "assignment": "queue",
        "sla_hours": str(sla_hours),
        "sla_action": "notify",
        "feedback_days": "",
        "email": "",
        "reps-TOTAL_FORMS": "0",
        "reps-INITIAL_FORMS": "0",
        "territories-TOTAL_FORMS": "0",
        "territories-INITIAL_FORMS": "0",
    }


def test_the_admin_refuses_an_sla_past_ten_years_on_its_field(admin_client: Client) -> None:
    response = admin_client.post("/admin/routing/team/add/", team_form(SLA_HOURS_MAX + 1))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"sla_hours": [f"At most {SLA_HOURS_MAX} hours (ten years)."]}, errors
    assert not Team.objects.exists()

    assert admin_client.post("/admin/routing/team/add/", team_form(SLA_HOURS_MAX)).status_code == 302
    assert Team.objects.get().sla_hours == SLA_HOURS_MAX


def test_a_model_file_refuses_an_sla_past_ten_years_at_its_place() -> None:
    body = "leadflow_model: 1\nteams:\n  - {key: sales, name: Sales, sla_hours: %d}\n"
    with pytest.raises(model_file.ModelFileError) as refused:
        model_file.load_text(body % (SLA_HOURS_MAX + 1))
    assert refused.value.errors == [f"teams[0].sla_hours: at most {SLA_HOURS_MAX}, not {SLA_HOURS_MAX + 1}"]

    model_file.load_text(body % SLA_HOURS_MAX)


@pytest.mark.parametrize("hours", [SLA_HOURS_MAX * 100, 2**31 - 1])
def test_an_sla_stored_past_the_limit_escalates_nothing_and_stops_no_other_team(hours: int) -> None:
    endless = TeamFactory.create(name="Endless", sla_hours=4)
    Team.objects.filter(pk=endless.pk).update(sla_hours=hours)  # stored before the bound
    QueueItemFactory.create(team=endless, entered_at=NOW - timedelta(days=20 * 365))
    prompt = TeamFactory.create(name="Prompt", sla_hours=4)
    late = QueueItemFactory.create(team=prompt, entered_at=NOW - timedelta(hours=5))

    assert sla.items_escalate_overdue(now=NOW) == 1

    assert QueueItem.objects.get(pk=late.pk).escalated_at == NOW
    assert not QueueItem.objects.filter(team=endless, escalated_at__isnull=False).exists()
    rows = {row[0]: row for row in overview.queues(now=NOW).rows}
    assert (rows["Endless"][2], rows["Prompt"][2]) == ("0", "1")
