"""An identify sent again as the one before it left its lead changes nothing: not a row
written, whatever identifies came before, so reading the leads without their locks (which
an identify that changes nothing now does) gives what the locked write gave."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake import ingest
from scoring.models import Account, AttributeName, Lead, PendingFit, Visitor

EMAILS = ["ana@acme.example", "bo@acme.example", "cy@gmail.com"]
VALUES: dict[str, list[Any]] = {
    "city": ["San José", "Lima", ""],
    "industry": ["Toys", "Food", ""],
    "annual_revenue": [None, Decimal("1000.50")],
    "attributes": [{"plan": "pro"}, {"plan": "free", "seats": "3"}, {"city": "Quito"}],
}


@st.composite
def identities(draw: st.DrawFn) -> ingest.Identity:
    names = draw(st.sets(st.sampled_from(sorted(VALUES))))
    return ingest.Identity(
        email=draw(st.sampled_from(EMAILS)),
        fields={name: draw(st.sampled_from(VALUES[name])) for name in sorted(names)},
        external_id=draw(st.sampled_from([None, None, "x-1", "x-2"])),
        visitor_key=draw(st.sampled_from([None, "v-1", "v-2"])),
        account_id=draw(st.sampled_from([None, None, "crm-1", "crm-2"])),
    )


def rows() -> dict[str, list[str]]:
    """Every row an identify may write, every column (times included)."""

    def columns(row: Model) -> dict[str, Any]:
        return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}

    return {
        model.__name__: sorted(repr(columns(row)) for row in model.objects.order_by("pk"))
        for model in (Lead, Account, Visitor, PendingFit, AttributeName)
    }


def holds(identity: ingest.Identity, *, fill_only: bool) -> None:
    """The lead holds what the identify said (unless only filling, or refused)."""
    lead = Lead.objects.get(email=identity.email)
    if fill_only:
        return
    for name, value in identity.fields.items():
        if name == "attributes":
            assert {key: lead.attributes.get(key) for key in value} == value
        else:
            assert getattr(lead, name) == value
    if identity.account_id is not None:
        assert lead.account_explicit
        assert lead.account is not None
        assert lead.account.external_id == identity.account_id


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(identities(), min_size=1, max_size=8), fill_only=st.booleans())
@pytest.mark.django_db
def test_an_identify_sent_again_changes_nothing(sequence: list[ingest.Identity], fill_only: bool) -> None:
    with transaction.atomic():
        for identity in sequence:
            if fill_only:
                identity = ingest.Identity(
                    email=identity.email, fields=identity.fields, visitor_key=identity.visitor_key
                )
            done = ingest.leads_identify([identity], fill_only=fill_only)
            if done.refused:
                continue  # its external id is another lead's: nothing was written
            holds(identity, fill_only=fill_only)
            before = rows()
            again = ingest.leads_identify([identity], fill_only=fill_only)
            assert (again.changed, again.refused) == (0, ())
            assert rows() == before
        transaction.set_rollback(True)
