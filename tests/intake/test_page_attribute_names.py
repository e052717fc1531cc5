"""A key used in web pages cannot spread custom attributes' names of its own across many
leads: it writes the names Leadflow knows (written by a trusted sender, or tested by a
rule) and brings at most ``LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES`` new ones site-wide; the
names past them are left out and counted in the answer. Each name is a column of the
leads' export."""

from __future__ import annotations

import csv
import functools
import logging
from io import StringIO
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from intake import ingest
from intake.api_keys import api_key_issue
from scoring.lead_export import ATTRIBUTE_PREFIX, leads_export
from scoring.models import AttributeName, Lead
from scoring.services import lead_save
from scoring.services.lead_rows import LeadRow, leads_write_rows
from tests.conftest import at_once
from tests.factories import LeadFactory, fit_rule
from tests.intake.test_public_keys import segment_client, send

pytestmark = pytest.mark.django_db


def identify(n: int, email: str, traits: dict[str, Any]) -> dict[str, Any]:
    return {"type": "identify", "messageId": f"i-{email}-{n}", "traits": {"email": email, **traits}}


def export_attribute_columns() -> list[str]:
    out = StringIO()
    leads_export(out=out)
    header = next(csv.reader(StringIO(out.getvalue())))
    return [column.removeprefix(ATTRIBUTE_PREFIX) for column in header if column.startswith(ATTRIBUTE_PREFIX)]


def api_client() -> Client:
    key = api_key_issue(name="CRM", scopes=["leads:read", "leads:write"]).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.fixture
def room(settings: Any) -> int:
    settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = 20
    return 20


def test_identifies_from_a_page_for_many_emails_bring_few_names_to_the_export(
    room: int, caplog: pytest.LogCaptureFixture
) -> None:
    """An identify per made-up email, each with 50 names of its own, gave the leads' export
    a column per name: 500 for ten messages, as many more for the next ten."""
    page = segment_client(public=True)
    batch = [identify(n, f"p{n}@example.com", {f"junk{n}-{m}": m for m in range(50)}) for n in range(10)]

    with caplog.at_level(logging.WARNING, logger="intake.segment"):
        answer = send(page, "batch", {"batch": batch}).json()

    # The first 20 names, in the order sent; the leads themselves are made, their email written.
    assert export_attribute_columns() == sorted(f"junk0-{m}" for m in range(20))
    assert (answer["identified"], answer["rejected"], answer["attributes_dropped"]) == (10, [], 480)
    assert Lead.objects.count() == 10
    assert len(Lead.objects.get(email="p0@example.com").attributes) == 20
    assert Lead.objects.get(email="p1@example.com").attributes == {}
    assert "480 custom attribute names" in caplog.text
    # Later batches bring none; the 20 brought are known now and written on any lead.
    again = [identify(n, f"q{n}@example.com", {f"more{n}": 1, "junk0-3": "x"}) for n in range(5)]
    assert send(page, "batch", {"batch": again}).json()["attributes_dropped"] == 5
    assert len(export_attribute_columns()) == 20
    assert Lead.objects.get(email="q4@example.com").attributes == {"junk0-3": "x"}


def test_a_page_writes_the_names_trusted_senders_wrote_and_rules_test(settings: Any) -> None:
    settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = 0
    server, page = segment_client(public=False), segment_client(public=True)
    assert send(server, "identify", identify(1, "crm@example.com", {"plan": "pro"})).status_code == 200
    leads_write_rows(key_field="email", rows=[LeadRow("import@example.com", attributes={"source": "fair"})])
    fit_rule(5, "attributes.goal", "equals", "gifts")
    typed = LeadFactory.create(email="typed@example.com")
    typed.attributes = {"budget": 10}
    lead_save(lead=typed, fields=["attributes"], cause="admin")  # as the admin's form does

    traits = {"plan": "free", "source": "ad", "goal": "gifts", "budget": 5, "employees": "51-200", "made_up": 1}
    answer = send(page, "identify", identify(2, "ana@example.com", traits)).json()

    assert answer["attributes_dropped"] == 1
    assert Lead.objects.get(email="ana@example.com").attributes == {
        "plan": "free",
        "source": "ad",
        "goal": "gifts",
        "budget": 5,
        "employees": "51-200",  # no number of employees: kept as written, a name Leadflow itself uses
    }


def test_a_trusted_sender_still_writes_any_name_once_pages_brought_theirs(room: int) -> None:
    page, server = segment_client(public=True), segment_client(public=False)
    send(page, "identify", identify(1, "p@example.com", {f"page{m}": m for m in range(25)}))
    api_key_client = api_client()

    assert (
        send(server, "identify", identify(2, "crm@example.com", {f"crm{m}": m for m in range(50)})).json()[
            "attributes_dropped"
        ]
        == 0
    )
    assert (
        api_key_client.post(
            "/api/v1/leads",
            {"email": "api@example.com", "attributes": {"tier": "gold"}},
            content_type="application/json",
        ).status_code
        == 201
    )

    assert len(Lead.objects.get(email="crm@example.com").attributes) == 50
    assert Lead.objects.get(email="api@example.com").attributes == {"tier": "gold"}
    assert AttributeName.objects.filter(origin=AttributeName.Origin.PAGE).count() == room
    # What a trusted sender wrote, a page may write from then on.
    send(page, "identify", identify(3, "bo@example.com", {"crm7": "x", "tier": "silver"}))
    assert Lead.objects.get(email="bo@example.com").attributes == {"crm7": "x", "tier": "silver"}


@pytest.mark.django_db(transaction=True)
def test_batches_from_pages_at_once_bring_no_more_names_than_allowed_between_them(postgres: None, room: int) -> None:
    """Each batch counted the names brought before it: four at once each saw room for 20."""

    def batch(n: int) -> tuple[str, ...]:
        identities = [
            ingest.Identity(email=f"p{n}-{m}@example.com", fields={"attributes": {f"b{n}-{m}": 1}}) for m in range(10)
        ]
        with transaction.atomic():
            identified = ingest.leads_identify(identities, fill_only=True)
            # Held a while, as a batch writing its events is: the others must wait, not count.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(0.3)")
        return identified.attributes_dropped

    dropped = at_once(*[functools.partial(batch, n) for n in range(4)])

    assert sum(len(names) for names in dropped) == 40 - room
    assert AttributeName.objects.filter(origin=AttributeName.Origin.PAGE).count() == room
    assert len(export_attribute_columns()) == room


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_names_leads_hold_are_known_once_migrated() -> None:
    before, after = ("scoring", "0057_set_aside_retry_said"), ("scoring", "0058_attribute_names")
    try:
        MigrationExecutor(connection).migrate([before])
        LeadFactory.create(attributes={"plan": "pro", "goal": "gifts"})
        LeadFactory.create(attributes={"plan": "free", "x" * 201: "too long to be a name"})
        LeadFactory.create(attributes={})

        executor = MigrationExecutor(connection)
        executor.migrate([after])

        names = executor.loader.project_state([after]).apps.get_model("scoring", "AttributeName")
        assert sorted(names.objects.values_list("name", "from_a_page")) == [
            ("goal", False),
            ("plan", False),
        ]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
