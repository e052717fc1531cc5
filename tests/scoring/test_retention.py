"""Years of data: monthly partitions (PostgreSQL), retention's roll-ups and the ledger's
opening balances. Idempotency, the invariant (cached scores = ledger sums), caps with
windows and rescore hold across partitions and after retention."""

from __future__ import annotations

import logging
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
from scoring.models import (
    AwardRollup,
    Interaction,
    InteractionKey,
    InteractionRollup,
    Lead,
    LeadScore,
    Scorecard,
    ScorecardEntry,
    ScoreEntry,
    Visitor,
    WaitingInteraction,
)
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
    assert result.rollups == len(old)  # a row per lead, type and month
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


def test_an_old_interaction_naming_a_lead_that_is_gone_is_dropped_uncounted(
    history: tuple[datetime, list[Lead]], caplog: pytest.LogCaptureFixture
) -> None:
    """The database checks no key from an interaction to its lead; should one name a lead
    that is gone (a restore, a hand's SQL), the month's roll-up still runs, without it."""
    now, leads = history
    horizon = services.history_horizon(now=now)
    assert horizon is not None
    stray = InteractionFactory.create(lead=leads[2], type="page_view", occurred_at=horizon - timedelta(days=40))
    Interaction.objects.filter(pk=stray.pk).update(lead_id=leads[2].pk + 1000)
    anonymous = InteractionFactory.create(lead=leads[1], type="page_view", occurred_at=horizon - timedelta(days=41))
    stranger = Visitor.objects.create(key="never-identified")
    Interaction.objects.filter(pk=anonymous.pk).update(lead_id=None, visitor=stranger)  # a visitor's, anonymous

    with caplog.at_level(logging.WARNING, logger="scoring.services.retention"):
        result = services.retention_apply(now=now)

    assert not Interaction.objects.filter(occurred_at__lt=horizon).exists()
    assert not InteractionRollup.objects.filter(type="page_view").exists()
    assert InteractionRollup.objects.filter(type="email_open").exists()
    # The stray one is told of (the anonymous one counts for nobody, as it always did).
    assert result.orphans == 1
    told = [r.getMessage() for r in caplog.records if "named a lead that is gone" in r.getMessage()]
    assert [text.split(" before ")[0] for text in told] == ["retention: 1 interactions"]


def test_an_old_interaction_still_waiting_goes_unscored_with_its_month(
    history: tuple[datetime, list[Lead]],
) -> None:
    """One older than the horizon that no worker scored yet (the workers stopped for
    months, say) goes with its month; no worker scores it afterwards."""
    now, leads = history
    horizon = services.history_horizon(now=now)
    assert horizon is not None
    kept = InteractionFactory.create(lead=leads[1], type="email_open", occurred_at=horizon + timedelta(days=1))
    InteractionFactory.create(lead=leads[1], type="email_open", occurred_at=horizon - timedelta(days=40))
    assert WaitingInteraction.objects.count() == 2

    result = services.retention_apply(now=now)

    assert result.unscored == 1
    assert list(WaitingInteraction.objects.values_list("pk", flat=True)) == [kept.pk]
    before = ScoreEntry.objects.count()
    assert services.interactions_score_pending() == 1
    assert set(ScoreEntry.objects.order_by("pk")[before:].values_list("interaction_id", flat=True)) == {kept.pk}
    assert _ledger_equals_cache() == []


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


@pytest.fixture
def capped(settings: SettingsWrapper) -> tuple[datetime, datetime, Lead, dict[str, int]]:
    """A lead's awards of capped rules, most before the horizon (retention: 2 months):
    a rule once per lead, one of at most 15 points per lead, one once per 10 days whose
    last award before the horizon is 2 days before it, and a scorecard's rule once per lead."""
    built_in_event_types()
    settings.LEADFLOW_RETENTION_MONTHS = 2
    now = timezone.now()
    horizon = services.history_horizon(now=now)
    assert horizon is not None
    rules = {
        "once": ScoringRuleFactory.create(points=10, interaction_types=["form_submit"], cap_count=1),
        "pages": ScoringRuleFactory.create(points=10, interaction_types=["page_view"], cap_points=15),
        "opens": ScoringRuleFactory.create(points=3, interaction_types=["email_open"], cap_count=1, cap_window_days=10),
        "toys": ScoringRuleFactory.create(
            points=10,
            interaction_types=["download"],
            cap_count=1,
            scorecard=Scorecard.objects.create(key="toys", name="Toys"),
        ),
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for back in range(8):
                month = partitions.month_add(partitions.month_of(now), -back)
                for table in partitions.PARTITIONED:
                    partitions.month_create(cursor, table, month)
    lead = LeadFactory.create()
    for kind, days in (
        ("form_submit", -100),  # 10
        ("form_submit", -40),  # 0: once per lead
        ("page_view", -70),  # 10
        ("page_view", -50),  # 5: 15 points per lead
        ("page_view", -45),  # 0
        ("email_open", -2),  # 3
        ("email_open", 3),  # 0: 5 days after the last
        ("email_open", 20),  # 3
        ("download", -80),  # 10 on toys
        ("download", -30),  # 0: once per lead
    ):
        InteractionFactory.create(lead=lead, type=kind, occurred_at=horizon + timedelta(days=days, hours=1))
    services.interactions_score_pending()
    return now, horizon, lead, {key: rule.pk for key, rule in rules.items()}


def _score(lead: Lead) -> tuple[int, int]:
    lead.refresh_from_db()
    return lead.fit_score, lead.engagement_score


def _toys(lead: Lead) -> tuple[int, int | None]:
    """The lead's engagement on the scorecard toys, and its ledger's sum."""
    score = LeadScore.objects.get(lead=lead, scorecard__key="toys").engagement_score
    return score, ScorecardEntry.objects.filter(lead=lead).aggregate(total=Sum("delta"))["total"]


def _rollups() -> dict[tuple[int, bool, datetime], tuple[int, int]]:
    return {(r.rule_id, r.whole, r.occurred_at): (r.awards, r.points) for r in AwardRollup.objects.all()}


def test_caps_count_the_awards_retention_compacted(
    capped: tuple[datetime, datetime, Lead, dict[str, int]],
) -> None:
    now, horizon, lead, rules = capped
    before = _score(lead)
    assert before == (0, 10 + 10 + 5 + 3 + 3)
    old = sum(ledger.objects.filter(occurred_at__lt=horizon).count() for ledger in (ScoreEntry, ScorecardEntry))

    result = services.retention_apply(now=now)

    assert (result.entries, result.openings) == (old, 2)  # an opening balance on each scorecard

    assert not ScoreEntry.objects.filter(occurred_at__lt=horizon).exists()
    assert _score(lead) == before
    assert _ledger_equals_cache() == []
    rollups = _rollups()
    assert rollups[(rules["once"], True, horizon - timedelta(days=100, hours=-1))] == (1, 10)
    assert rollups[(rules["pages"], True, horizon - timedelta(days=50, hours=-1))] == (2, 15)
    # The rule with a window keeps its last award before the horizon one by one: 10 days reach past it.
    assert rollups[(rules["opens"], False, horizon - timedelta(days=2, hours=-1))] == (1, 3)
    assert rollups[(rules["toys"], True, horizon - timedelta(days=80, hours=-1))] == (1, 10)
    assert _toys(lead) == (10, 10)
    # Rescore sees the awards before the horizon too: nothing changes.
    assert services.leads_rescore(lead_ids=[lead.pk]) == 0
    assert _score(lead) == before

    # New interactions: the rules capped for life give nothing more, nor does the window
    # reaching back past the horizon; an open far from the others still counts.
    for kind, at in (
        ("form_submit", now - timedelta(hours=1)),
        ("page_view", now - timedelta(hours=1)),
        ("email_open", horizon + timedelta(days=5)),
        ("email_open", now - timedelta(hours=2)),
        ("download", now - timedelta(hours=1)),
    ):
        InteractionFactory.create(lead=lead, type=kind, occurred_at=at)
    services.interactions_score_pending()
    assert _score(lead) == (0, before[1] + 3)
    assert _toys(lead) == (10, 10)
    assert _ledger_equals_cache() == []
    assert services.leads_rescore(lead_ids=[lead.pk]) == 0

    # A second run changes nothing: the roll-ups are not counted twice.
    services.retention_apply(now=now)
    assert _rollups() == rollups
    assert services.leads_rescore(lead_ids=[lead.pk]) == 0
    assert _score(lead) == (0, before[1] + 3)


def test_awards_kept_for_a_window_go_once_no_window_reaches_them(
    capped: tuple[datetime, datetime, Lead, dict[str, int]],
) -> None:
    now, _, _, rules = capped
    services.retention_apply(now=now)
    assert AwardRollup.objects.filter(rule_id=rules["opens"], whole=False).count() == 1
    # Two months later the horizon is past it by more than the window.
    services.retention_apply(now=now + timedelta(days=62))
    assert not AwardRollup.objects.filter(rule_id=rules["opens"], whole=False).exists()
    # All of them still count for a cap with no window.
    assert AwardRollup.objects.get(rule_id=rules["opens"], whole=True).awards == 2  # h-2 days, h+20 days
    assert _ledger_equals_cache() == []


def test_catching_up_months_goes_a_month_at_a_time_and_a_stopped_run_is_finished_by_the_next(
    capped: tuple[datetime, datetime, Lead, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scoring.services import retention

    now, horizon, lead, rules = capped
    before = _score(lead)
    steps: list[datetime] = []
    month_apply = retention._month_apply

    def stop_after_the_first(before: datetime, **kwargs: object) -> retention.RetentionResult:
        """A run that stops after the first month with ledger rows (earlier ones may be
        empty partitions)."""
        if steps:
            raise RuntimeError("stopped")
        result = month_apply(before, **kwargs)  # type: ignore[arg-type]
        if result.entries:
            steps.append(before)
        return result

    monkeypatch.setattr(retention, "_month_apply", stop_after_the_first)
    with pytest.raises(RuntimeError, match="stopped"):
        services.retention_apply(now=now)
    # The first month is done and committed, the others wait; the invariant holds.
    (first,) = steps
    assert first <= horizon - timedelta(days=40)
    assert not ScoreEntry.objects.filter(occurred_at__lt=first).exists()
    assert not Interaction.objects.filter(occurred_at__lt=first).exists()
    assert Interaction.objects.filter(occurred_at__lt=horizon).exists()
    assert _score(lead) == before
    assert _ledger_equals_cache() == []
    assert AwardRollup.objects.get(rule_id=rules["once"], whole=True).awards == 1

    monkeypatch.setattr(retention, "_month_apply", month_apply)
    result = services.retention_apply(now=now)

    assert not ScoreEntry.objects.filter(occurred_at__lt=horizon).exists()
    assert not Interaction.objects.filter(occurred_at__lt=horizon).exists()
    # One opening balance per lead and dimension, at the horizon: each month's merged into the next.
    assert list(ScoreEntry.objects.filter(cause="opening").values_list("lead_id", "dimension", "occurred_at")) == [
        (lead.pk, "engagement", horizon)
    ]
    assert _score(lead) == before
    assert _ledger_equals_cache() == []
    assert {(r.rule_id, r.whole): (r.awards, r.points) for r in AwardRollup.objects.all()} == {
        (rules["once"], True): (1, 10),
        (rules["pages"], True): (2, 15),
        (rules["opens"], True): (1, 3),
        (rules["opens"], False): (1, 3),
        (rules["toys"], True): (1, 10),
    }
    assert Counter(InteractionRollup.objects.values_list("type", flat=True)) == Counter(
        {"form_submit": 2, "page_view": 2, "email_open": 1, "download": 2}
    )
    assert sum(InteractionRollup.objects.values_list("count", flat=True)) == 8
    if connection.vendor == "postgresql":
        assert len(result.months) > len(partitions.PARTITIONED)  # several months of each table
        with connection.cursor() as cursor:
            for table in partitions.PARTITIONED:
                assert min(partitions.months(cursor, table)) == partitions.month_of(horizon)
    # Caps hold.
    InteractionFactory.create(lead=lead, type="form_submit", occurred_at=now - timedelta(hours=1))
    services.interactions_score_pending()
    assert _score(lead) == before
    assert services.leads_rescore(lead_ids=[lead.pk]) == 0
