"""System emails in the reader's language: a notification to a lead's owner in the
language they chose, a team's and an invitation in the site's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from people.models import Preference
from routing import services
from routing.models import Team
from scoring.models import ScoreGroup
from tests.factories import LeadFactory
from tests.nurture.conftest import Sink
from tests.routing.factories import TeamFactory, UserFactory, rule
from tests.routing.test_actions import heat, hot  # noqa: F401  (hot: the fixture)
from tests.routing.test_new_rep import ADD, new_rep


@pytest.mark.django_db
def test_the_owner_reads_the_notification_in_their_language_the_team_in_the_site_s(
    hot: ScoreGroup,  # noqa: F811
    smtp: Sink,
) -> None:
    owner = UserFactory.create(username="ana", email="ana@sales.example")
    Preference.objects.create(user=owner, language="es")
    team = TeamFactory.create(name="Inside", email="inside@sales.example")
    rule(
        "enters_group",
        {"kind": "assign_owner", "user": owner},
        {"kind": "notify"},
        {"kind": "notify", "team": team},
        group=hot,
        name="Lead caliente",
    )
    heat(LeadFactory.create(email="buyer@shop.example"))
    assert services.notifications_send() == 2

    [to_owner] = smtp.to("ana@sales.example")
    assert to_owner["Subject"] == "Lead buyer@shop.example: Lead caliente"
    assert "Puntuación 85 (perfil " in to_owner.get_content()
    assert "Cola de ventas:" in to_owner.get_content()
    [to_team] = smtp.to("inside@sales.example")
    assert "Score 85 (fit " in to_team.get_content()
    assert "Sales queue:" in to_team.get_content()


@pytest.mark.django_db
def test_an_invitation_is_in_the_site_s_language(admin_client: Client, smtp: Sink, settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"
    team: Team = TeamFactory.create(name="Personal shoppers")
    response = admin_client.post(reverse(ADD), new_rep(team, access="invite", password1="", password2=""))
    assert response.status_code == 302

    [message] = smtp.to("rosa@toys.example")
    assert message["Subject"] == "Tu cuenta en la cola de ventas de Leadflow"
    assert "Tu usuario es rosa." in message.get_content()
    assert "en el equipo Personal shoppers" in message.get_content()
