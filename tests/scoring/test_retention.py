"""Years of data: monthly partitions (PostgreSQL), retention's roll-ups and the ledger's
opening balances. Idempotency, the invariant (cached scores = ledger sums), caps with
windows and rescore hold across partitions and after retention."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from intake.events import events_check
from intake.ingest import events_accept
from scoring import partitions, services
from scoring import rules as pure
from scoring.models import Interaction, InteractionKey, InteractionRollup, Lead, ScoreEntry
from tests.factories import InteractionFactory, LeadFactory, ScoringRuleFactory, built_in_event_types

pytestmark = pytest.mark.django_db


def _partition_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def _ledger_equals_cache() -> list[int]:
    """The leads whose cached scores differ from their ledger's sums."""
    sums: dict[tuple[int, str], int] = {
        (lead_id, dimension): total
        for lead_id, dimension, total in ScoreEntry.objects.values("lead_id", "dimension")
        .annotate(total=Sum("delta"))
        .values_list("lead_id", "dimension", "total")
    }
    return [
        lead.pk
        for lead in Lead.objects.all()
        if (lead.fit_score, lead.engagement_score)
        != (sums.get((lead.pk, "fit"), 0), sums.get((lead.pk, "engagement"), 0))
    ]


def test_partitions_are_made_ahead_and_a_second_run_makes_none(postgres: None) -> None:
    later = timezone.now() + timedelta(days=400)
    made = services.partitions_ahead(now=later)
    month = partitions.month_of(later)
    for table in partitions.PARTITIONED:
        for step in range(partitions.MONTHS_AHEAD + 1):
            assert partitions.partition_name(table, partitions.month_add(month, step)) in made
    assert services.partitions_ahead(now=later) == []


def test_a_row_no_month_holds_lands_in_the_default_partition_and_moves_when_its_month_is_made(
    postgres: None,
) -> None:
    lead = LeadFactory.create()
    past = InteractionFactory.create(lead=lead, occurred_at=datetime(1999, 3, 5, tzinfo=UTC))
    future = InteractionFactory.create(lead=lead, occurred_at=datetime(2090, 1, 1, tzinfo=UTC))
    assert _partition_of("scoring_interaction", past.pk) == "scoring_interaction_default"
    assert _partition_of("scoring_interaction", future.pk) == "scoring_interaction_default"

    with connection.cursor() as cursor:
        assert partitions.month_create(cursor, "scoring_interaction", partitions.month_of(past.occurred_at))
    assert _partition_of("scoring_interaction", past.pk) == "scoring_interaction_p1999_03"
    assert Interaction.objects.get(pk=past.pk).idempotency_key == past.idempotency_key


def test_the_same_event_twice_is_stored_once_even_without_a_time_of_its_own() -> None:
    built_in_event_types()
    raw = {"id": "evt-once", "type": "email_open", "lead": {"email": "once@example.com"}}
    first, _ = events_check([raw], now=timezone.now())
    again, _ = events_check([raw], now=timezone.now() + timedelta(hours=30))  # another month, maybe
    assert events_accept(first, source="api").accepted == 1
    assert events_accept(again, source="api").duplicates == 1
    assert Interaction.objects.filter(idempotency_key="evt-once").count() == 1
    assert InteractionKey.objects.filter(key="evt-once").count() == 1


def test_the_same_key_recorded_twice_gives_the_first_interaction() -> None:
    lead = LeadFactory.create()
    when = timezone.now() - timedelta(days=3)
    first = services.interaction_record(lead=lead, type="email_open", occurred_at=when, idempotency_key="k-1")
    again = services.interaction_record(
        lead=lead, type="email_open", occurred_at=when + timedelta(days=1), idempotency_key="k-1"
    )
    assert first.created
    assert not again.created
    assert again.interaction.pk == first.interaction.pk


@pytest.fixture
def history(settings: SettingsWrapper) -> tuple[datetime, list[Lead]]:
    """About six months of scored interactions of three leads, 30 days apart (and one of
    years ago), a capped rule with a window inside the months retention keeps, and a
    manual adjustment. Retention: 2 months."""
    built_in_event_types()
    now = timezone.now()
    ScoringRuleFactory.create(key="opens", points=2, interaction_types=["email_open"], cap_count=2, cap_window_days=7)
    ScoringRuleFactory.create(key="forms", points=5, interaction_types=["form_submit"])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for back in range(8):
                month = partitions.month_add(partitions.month_of(now), -back)
                partitions.month_create(cursor, "scoring_interaction", month)
                partitions.month_create(cursor, "scoring_scoreentry", month)
    leads = [LeadFactory.create() for _ in range(3)]
    n = 0
    for lead in leads:
        for back in range(6):
            for day, kind in ((13, "email_open"), (12, "email_open"), (11, "email_open"), (10, "form_submit")):
                n += 1
                InteractionFactory.create(
                    lead=lead,
                    type=kind,
                    occurred_at=now - timedelta(days=30 * back + day),
                    idempotency_key=f"h-{n}",
                )
    InteractionFactory.create(lead=leads[0], type="form_submit", occurred_at=now - timedelta(days=3 * 365))
    services.interactions_score_pending()
    services.lead_adjust_score(lead_id=leads[1].pk, dimension=pure.Dimension.ENGAGEMENT, delta=7, note="met at a fair")
    settings.LEADFLOW_RETENTION_MONTHS = 2
    return now, leads


def test_retention_keeps_counts_and_the_invariant_and_rescore_sees_no_change(
    history: tuple[datetime, list[Lead]],
) -> None:
    now, leads = history
    horizon = services.history_horizon(now=now)
    assert horizon is not None
    old = Counter(
        (lead_id, kind, partitions.month_of(at))
        for lead_id, kind, at in Interaction.objects.filter(occurred_at__lt=horizon).values_list(
            "lead_id", "type", "occurred_at"
        )
    )
    before = {lead.pk: (lead.fit_score, lead.engagement_score) for lead in Lead.objects.all()}
    assert services.leads_rescore(lead_ids=list(before)) == 0  # nothing to change before retention

    result = services.retention_apply(now=now)

    assert result.interactions == sum(old.values())
    assert not Interaction.objects.filter(occurred_at__lt=horizon).exists()
    assert not ScoreEntry.objects.filter(occurred_at__lt=horizon).exists()
    assert {(r.lead_id, r.type, r.month): r.count for r in InteractionRollup.objects.all()} == dict(old)
    assert {lead.pk: (lead.fit_score, lead.engagement_score) for lead in Lead.objects.all()} == before
    assert _ledger_equals_cache() == []
    assert ScoreEntry.objects.filter(cause="opening").count() == len(leads)  # one per lead: engagement only
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            kept = partitions.months(cursor, "scoring_interaction")
        assert min(kept) == partitions.month_of(horizon)
        assert result.months  # whole months went a partition at a time
        assert all(name[-7:] < f"{horizon:%Y_%m}" for name in result.months)

    # Rescore sees back to the horizon: the same scores, nothing written.
    assert services.leads_rescore(lead_ids=list(before)) == 0
    assert {lead.pk: (lead.fit_score, lead.engagement_score) for lead in Lead.objects.all()} == before
    # A second run finds nothing more to do.
    assert services.retention_apply(now=now).interactions == 0


def test_after_retention_caps_with_windows_and_idempotency_still_hold(
    history: tuple[datetime, list[Lead]],
) -> None:
    now, leads = history
    services.retention_apply(now=now)
    lead = leads[2]
    before = Lead.objects.get(pk=lead.pk).engagement_score
    built_in_event_types()
    raws = [
        {"id": f"late-{k}", "type": "email_open", "lead": {"email": lead.email}, "occurred_at": at.isoformat()}
        for k, at in enumerate([now - timedelta(hours=3), now - timedelta(hours=2), now - timedelta(hours=1)])
    ]
    events, _ = events_check(raws, now=now)
    assert events_accept(events, source="api").accepted == 3
    assert events_accept(events, source="api").duplicates == 3
    services.interactions_score_pending()
    after = Lead.objects.get(pk=lead.pk).engagement_score
    assert after - before == 2 * 2  # the cap: 2 opens a week (the last ones were 10 days ago)
    assert _ledger_equals_cache() == []
