"""A lead written again as :func:`scoring.services.lead_upsert` left it changes nothing: the
same answer, and not a row written (not even a time), whatever writes came before, so
reading it without the lead's lock (which a write that changes nothing now does) gives
what the locked write gave."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import services
from scoring.models import Account, AttributeName, Lead, PendingFit, ScoreEntry, StageChange
from tests.factories import fit_rule

EMAILS = ["ana@acme.example", "BO@acme.example", "cy@gmail.com"]
VALUES: dict[str, list[Any]] = {
    "city": ["San José", "Lima", ""],
    "industry": ["Toys", "Food", ""],
    "company_size": [None, 50, 250],
    "annual_revenue": [None, Decimal("1000.50")],
    "lifecycle_stage": ["lead", "mql"],
    "external_id": ["x-1", "x-2"],
    "attributes": [{"plan": "pro"}, {"plan": "free", "seats": "3"}, {"city": "Quito"}, {"address": {"city": "Quito"}}],
}


@st.composite
def upserts(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.sets(st.sampled_from(sorted(VALUES))))
    return {
        "email": draw(st.sampled_from(EMAILS)),
        "fields": {name: draw(st.sampled_from(VALUES[name])) for name in sorted(names)},
        "account_external_id": draw(st.sampled_from([None, None, "crm-1", "crm-2"])),
    }


def columns(row: Model) -> dict[str, Any]:
    return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}


def rows() -> dict[str, list[str]]:
    """Every row an upsert may write, every column (times included)."""
    return {
        model.__name__: sorted(repr(columns(row)) for row in model.objects.order_by("pk"))
        for model in (Lead, Account, ScoreEntry, StageChange, PendingFit, AttributeName)
    }


def written(lead: Lead, *, email: str, fields: dict[str, Any], account_external_id: str | None) -> None:
    """What an upsert answered holds what it was sent, as the database does."""
    lead.refresh_from_db()
    assert str(lead.email).lower() == email.lower()
    for name, value in fields.items():
        if name == "attributes":
            assert {key: lead.attributes.get(key) for key in value} == value
        else:
            assert getattr(lead, name) == value
    if account_external_id is not None:
        assert lead.account_explicit
        assert lead.account is not None
        assert lead.account.external_id == account_external_id
    if lead.account is not None:  # every upsert tells its account what it says of the company
        for name in ("industry", "company_size", "annual_revenue"):
            if fields.get(name) not in (None, ""):
                assert name in lead.company_told
                assert getattr(lead.account, name) not in (None, "")  # filled, by this lead or another


@pytest.fixture
def model() -> None:
    fit_rule(8, "city", "equals", "San José")
    fit_rule(3, "industry", "equals", "Toys")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(upserts(), min_size=1, max_size=8))
@pytest.mark.django_db
def test_an_upsert_sent_again_answers_the_same_and_writes_nothing(model: None, sequence: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        for call in sequence:
            try:
                lead, _ = services.lead_upsert(**call)
            except services.LeadConflict:
                continue  # another lead has the external id: nothing was written
            written(lead, **call)
            before = rows()
            again, created = services.lead_upsert(**call)
            assert (created, columns(again)) == (False, columns(lead))
            assert rows() == before
        transaction.set_rollback(True)
