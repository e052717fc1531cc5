"""Routing rules in the admin: every way of changing them (the list's own editing, one
delete, "Delete selected") keeps the scores routing watches, as a rule's page does."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from routing.models import RoutingRule
from scoring.models import ScoreWatch
from tests.routing.factories import rule

pytestmark = pytest.mark.django_db


def watched() -> set[int]:
    return set(ScoreWatch.objects.values_list("value", flat=True))


def test_deleting_selected_rules_and_list_editing_keep_the_watched_scores(admin_user: Any) -> None:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    rises = rule("score_rises_to", {"kind": "add_tag", "tag": "hot"}, threshold=60)
    falls = rule("score_falls_below", {"kind": "add_tag", "tag": "cold"}, threshold=20)
    assert watched() == {60, 20}
    changelist = reverse("admin:routing_routingrule_changelist")
    # The list's own editing: "falls" made inactive.
    data = {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "2", "_save": "Save"}
    for index, made in enumerate(RoutingRule.objects.order_by("name")):
        data[f"form-{index}-id"] = str(made.pk)
        data[f"form-{index}-position"] = str(made.position)
        if made.pk != falls.pk:
            data[f"form-{index}-active"] = "on"
    assert client.post(changelist, data).status_code == 302
    assert not RoutingRule.objects.get(pk=falls.pk).active
    assert watched() == {60}
    response = client.post(
        changelist, {"action": "delete_selected", "_selected_action": [str(rises.pk)], "post": "yes"}
    )
    assert response.status_code == 302
    assert not RoutingRule.objects.filter(pk=rises.pk).exists()
    assert watched() == set()
