"""Finding leads by email, whatever its case, through the unique index on lower(email):
one probe per email, never a read of the whole lead table (the API and the imports
look leads up by email on every request)."""

from __future__ import annotations

import pytest
from django.db import connection

from scoring import services as scoring
from scoring.models import Lead
from tests.factories import LeadFactory

EMAIL_INDEX = "lead_email_ci_unique"


def scans() -> tuple[int, int]:
    """Whole-table reads of the lead table, and probes of its email index, so far in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce((SELECT seq_scan FROM pg_stat_xact_user_tables"
            " WHERE relid = 'scoring_lead'::regclass), 0), pg_stat_get_xact_numscans(%s::regclass)",
            [EMAIL_INDEX],
        )
        whole, probes = cursor.fetchone()
    return whole, probes


@pytest.mark.django_db
def test_with_email_finds_the_lead_whatever_the_case() -> None:
    ada = LeadFactory.create(email="Ada.Lovelace@Analytical.example")
    LeadFactory.create(email="ada.lovelace@analytical.example.org")
    LeadFactory.create(email=None, external_id="crm-1")
    assert list(Lead.objects.with_email("ADA.LOVELACE@analytical.EXAMPLE")) == [ada]
    assert list(Lead.objects.with_email("ada.lovelace@analytical.example")) == [ada]
    assert not Lead.objects.with_email("lovelace@analytical.example").exists()  # whole, not a part


@pytest.mark.django_db
def test_leads_by_email_answers_those_that_exist_by_lower_cased_email() -> None:
    ada = LeadFactory.create(email="Ada@Example.com")
    grace = LeadFactory.create(email="grace@example.com")
    found = scoring.leads_by_email({"ada@example.com", "grace@example.com", "alan@example.com"})
    assert found == {"ada@example.com": ada.pk, "grace@example.com": grace.pk}
    assert scoring.leads_by_email([]) == {}


@pytest.mark.django_db
def test_a_batch_of_emails_probes_the_email_index_and_never_reads_the_whole_table(postgres: None) -> None:
    leads = LeadFactory.create_batch(600)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scoring_lead")
    # An API request's worth of emails, most of them known: asked as lower(email) = ANY(…),
    # the planner read the whole table of a few hundred thousand leads or fewer.
    wanted = [str(lead.email).lower() for lead in leads[:450]] + [f"new{n}@example.com" for n in range(50)]
    whole, probes = scans()
    found = scoring.leads_by_email(wanted)
    assert found == {str(lead.email).lower(): lead.pk for lead in leads[:450]}
    after = scans()
    assert after[0] == whole
    assert after[1] > probes


@pytest.mark.django_db
def test_one_email_probes_the_email_index(postgres: None) -> None:
    LeadFactory.create_batch(50)
    lead = LeadFactory.create(email="Radia.Perlman@example.com")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scoring_lead")
        # A table this small is read whole; turned off, the planner shows which index it would use.
        cursor.execute("SET LOCAL enable_seqscan = off")
    whole, probes = scans()
    assert Lead.objects.with_email("radia.perlman@EXAMPLE.com").get() == lead
    # email__iexact compared UPPER(email): it read the search's trigram index, or the whole table.
    assert scans() == (whole, probes + 1)
