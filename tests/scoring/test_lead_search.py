"""The admin's lead search (scoring.lead_search): part of an email, a name, a company or a
city, or a whole external id, on the lead list and on the lists of a lead's rows. On
PostgreSQL it reads a table of its own that triggers keep, written when a lead's searched
fields change and never when only its score does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client, RequestFactory

from scoring import lead_search
from scoring import rules as pure
from scoring import services as scoring
from scoring.models import Interaction, Lead
from tests.factories import InteractionFactory, LeadFactory
from tests.routing.factories import marketer

BEFORE = ("scoring", "0046_leadscore_fillfactor")
AFTER = ("scoring", "0047_lead_search_table")


def found(term: str, model: Any = Lead) -> set[Any]:
    model_admin = admin.site._registry[model]
    queryset, duplicates = model_admin.get_search_results(RequestFactory().get("/"), model.objects.all(), term)
    assert not duplicates
    return set(queryset)


def search_rows() -> dict[int, tuple[str, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT lead_id, document, external_id FROM scoring_leadsearch")
        return {lead_id: (document, external_id) for lead_id, document, external_id in cursor.fetchall()}


def search_writes() -> int:
    """Rows written to the search's table so far in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
            " WHERE relid = 'scoring_leadsearch'::regclass"
        )
        row = cursor.fetchone()
    return row[0] if row else 0


@pytest.mark.django_db
def test_every_word_must_be_in_some_field_and_none_spans_two() -> None:
    ada = LeadFactory.create(email="ada@analytical.example", first_name="Ada", last_name="Lovelace", city="London")
    LeadFactory.create(email="ann@elk.example", first_name="Ann", last_name="Elk", city="Leeds")
    assert found("ada lovelace") == {ada}
    assert found("LONDON analytical") == {ada}
    assert found("ada leeds") == set()
    # Django's search compares one field at a time: a phrase never runs from one into the next.
    assert found('"ann elk"') == set()
    assert found('"ann@elk"') == {Lead.objects.get(first_name="Ann")}


@pytest.mark.django_db
def test_a_search_that_finds_many_leads_lists_them_in_the_lists_order(monkeypatch: pytest.MonkeyPatch) -> None:
    group = [LeadFactory.create(email=f"toys{n}@example.com", company="Toy Barn") for n in range(5)]
    for n, lead in enumerate(group):
        Lead.objects.filter(pk=lead.pk).update(engagement_score=10 * n)
    LeadFactory.create(email="books@example.com", company="Book Barn")
    client = Client(HTTP_HOST="localhost")
    client.force_login(marketer())
    for few in (100, 3):  # the few found listed by id, and the many read in the list's order
        monkeypatch.setattr(lead_search, "FEW", few)
        response = client.get("/admin/scoring/lead/", {"q": "toy barn"})
        changelist = response.context["cl"]
        assert [lead.email for lead in changelist.result_list] == [f"toys{n}@example.com" for n in range(4, -1, -1)]
        assert changelist.result_count == 5


@pytest.mark.django_db
def test_wildcards_in_a_term_are_plain_characters() -> None:
    percent = LeadFactory.create(email="p@example.com", company="100% Toys")
    LeadFactory.create(email="q@example.com", company="1000 Toys")
    underscore = LeadFactory.create(email="a_b@example.com")
    LeadFactory.create(email="axb@example.com")
    assert found("100%") == {percent}
    assert found("a_b") == {underscore}


@pytest.mark.django_db
def test_a_lead_is_found_by_its_new_name_once_renamed_and_not_once_deleted() -> None:
    lead = LeadFactory.create(email="grace@example.com", first_name="Grace", last_name="Murray")
    assert found("murray") == {lead}
    lead.last_name = "Hopper"
    lead.save()
    assert found("murray") == set()
    assert found("hopper") == {lead}
    Lead.objects.filter(pk=lead.pk).update(company="Navy Labs")  # an UPDATE that names the column
    assert found("navy") == {lead}
    lead.delete()
    assert found("hopper") == set()


@pytest.mark.django_db
def test_leads_created_and_changed_in_bulk_are_found(postgres: None) -> None:
    scoring.leads_create(keys=[("linus@example.com", None), (None, "crm-77")])
    assert {str(lead) for lead in found("linus")} == {"linus@example.com"}
    assert {str(lead) for lead in found("crm-77")} == {"external id crm-77"}
    scoring.leads_merge(fields={"linus@example.com": {"company": "Kernel Org", "city": "Portland"}})
    assert {str(lead) for lead in found("kernel portland")} == {"linus@example.com"}
    by_id = search_rows()
    lead = Lead.objects.get(email="linus@example.com")
    assert by_id[lead.pk] == ("LINUS@EXAMPLE.COM\x01\x01\x01KERNEL ORG\x01PORTLAND", None)
    assert set(by_id) == set(Lead.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_score_changes_leave_the_search_table_alone(postgres: None) -> None:
    lead = LeadFactory.create(email="barbara@example.com", last_name="Liskov")
    before = search_writes()
    scoring.lead_adjust_score(lead_id=lead.pk, dimension=pure.Dimension.ENGAGEMENT, delta=15, note="met at the fair")
    Lead.objects.filter(pk=lead.pk).update(fit_score=7, last_activity_at=datetime(2026, 11, 2, tzinfo=UTC))
    lead.refresh_from_db()
    lead.save()  # every column named, none of the searched ones changed
    assert lead.total_score == 22
    assert search_writes() == before
    lead.city = "Boston"
    lead.save()
    assert search_writes() == before + 1


@pytest.mark.django_db
def test_the_lists_of_a_leads_rows_search_by_the_lead() -> None:
    ada = InteractionFactory.create(lead=LeadFactory.create(email="ada@example.com", last_name="Lovelace"))
    InteractionFactory.create(lead=LeadFactory.create(email="alan@example.com", last_name="Turing"))
    assert found("lovelace", Interaction) == {ada}
    assert found("ada@example", Interaction) == {ada}
    client = Client(HTTP_HOST="localhost")
    client.force_login(marketer(is_superuser=True))
    response = client.get("/admin/scoring/interaction/", {"q": "lovelace"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [ada]


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_the_leads_there_already(postgres: None) -> None:
    try:
        MigrationExecutor(connection).migrate([BEFORE])
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('scoring_leadsearch')")
            assert cursor.fetchone()[0] is None
        # The lead as the schema then was: today's model has columns added since.
        then = MigrationExecutor(connection).loader.project_state([BEFORE]).apps.get_model("scoring", "Lead")
        lead = then.objects.create(email="edsger@example.com", first_name="", last_name="Dijkstra", external_id="ewd-1")
        MigrationExecutor(connection).migrate([AFTER])
        assert search_rows() == {lead.pk: ("EDSGER@EXAMPLE.COM\x01\x01DIJKSTRA\x01\x01", "ewd-1")}
        for term in ("dijkstra", "ewd-1"):
            queryset, _ = admin.site._registry[Lead].get_search_results(
                RequestFactory().get("/"), Lead.objects.all(), term
            )
            assert set(queryset.values_list("pk", flat=True)) == {lead.pk}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
