"""A list's grouped number columns keep what the field's own column did: an editable
one keeps its input, a sortable one its sorting, a generated total is grouped too."""

from __future__ import annotations

import pytest
from django.test import Client

from scoring.models import Lead
from tests.routing.factories import RepFactory

pytestmark = pytest.mark.django_db


def admin_client(django_user_model: object) -> Client:
    client = Client(headers={"accept-language": "es"})
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))  # type: ignore[attr-defined]
    return client


def test_an_editable_number_column_keeps_its_input_and_saves(django_user_model: object) -> None:
    rep = RepFactory.create(capacity=5)
    client = admin_client(django_user_model)

    page = client.get("/admin/routing/rep/").content.decode()

    assert 'name="form-0-capacity"' in page
    response = client.post(
        "/admin/routing/rep/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(rep.pk),
            "form-0-capacity": "7",
            "form-0-available": "on",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.capacity == 7


def test_the_total_score_is_grouped_and_still_sorts(django_user_model: object) -> None:
    Lead.objects.create(email="big@example.com", fit_score=1200, engagement_score=34)
    client = admin_client(django_user_model)

    page = client.get("/admin/scoring/lead/").content.decode()

    assert "1.234" in page
    assert "sortable column-total_score" in page
