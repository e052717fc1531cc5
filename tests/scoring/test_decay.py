"""Decay: the policies' numbers, and the nightly job on the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django_celery_beat.models import PeriodicTask
from hypothesis import given
from hypothesis import strategies as st

from scoring import decay, services
from scoring.decay import Kind, Policy
from scoring.models import DecayRun, Lead, ScoreEntry
from scoring.rules import Dimension
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory

LINEAR = Policy(Kind.LINEAR, points_per_day=2, after_days=7)
HALF = Policy(Kind.HALF_LIFE, half_life_days=10)


# --- pure ------------------------------------------------------------------------


def test_linear_loses_points_per_day_after_the_grace_period() -> None:
    assert decay.target(LINEAR, base=20, days=7) == 20
    assert decay.target(LINEAR, base=20, days=8) == 18
    assert decay.target(LINEAR, base=20, days=10) == 14
    assert decay.target(LINEAR, base=20, days=100) == 0  # the floor


def test_half_life_halves_every_period() -> None:
    assert decay.target(HALF, base=80, days=10) == 40
    assert decay.target(HALF, base=80, days=20) == 20
    assert decay.target(HALF, base=80, days=5) == 57  # 80 / sqrt(2) = 56.57
    assert decay.target(Policy(Kind.HALF_LIFE, half_life_days=10, after_days=3), base=80, days=13) == 40


def test_floor_is_kept_and_a_score_below_it_is_left_alone() -> None:
    floored = Policy(Kind.LINEAR, points_per_day=5, floor=10)
    assert decay.target(floored, base=30, days=100) == 10
    assert decay.decay_delta(floored, current=30, goal=decay.target(floored, base=30, days=100)) == -20
    assert decay.target(floored, base=4, days=100) == 4
    assert decay.decay_delta(floored, current=4, goal=0) == 0
    halved = Policy(Kind.HALF_LIFE, half_life_days=1, floor=10)
    assert decay.target(halved, base=30, days=1) == 20  # half of what is above the floor


def test_window_keeps_only_recent_points_and_never_raises() -> None:
    window = Policy(Kind.WINDOW, window_days=30)
    assert decay.decay_delta(window, current=25, goal=decay.window_target(window, recent=10)) == -15
    assert decay.decay_delta(window, current=5, goal=decay.window_target(window, recent=12)) == 0


def test_no_policy_moves_nothing() -> None:
    assert decay.decay_delta(Policy(), current=50, goal=0) == 0


def test_check_policy_names_the_field() -> None:
    assert "points_per_day" in decay.check_policy(Policy(Kind.LINEAR))
    assert "half_life_days" in decay.check_policy(Policy(Kind.HALF_LIFE))
    assert "window_days" in decay.check_policy(Policy(Kind.WINDOW))
    assert decay.check_policy(LINEAR) == {}


policies = st.builds(
    Policy,
    kind=st.sampled_from([Kind.LINEAR, Kind.HALF_LIFE]),
    points_per_day=st.integers(1, 10),
    after_days=st.integers(0, 30),
    half_life_days=st.floats(0.5, 90),
    floor=st.integers(-20, 20),
)


@given(policies, st.integers(-50, 500), st.integers(0, 400), st.integers(0, 400))
def test_decay_is_monotone_and_respects_the_floor(policy: Policy, base: int, d1: int, d2: int) -> None:
    early, late = sorted((d1, d2))
    first, second = decay.target(policy, base=base, days=early), decay.target(policy, base=base, days=late)
    assert second <= first <= base
    if base >= policy.floor:
        assert second >= policy.floor
    # Split periods: one run after `late` days and runs at `early` then `late` land on the same score.
    in_one = decay.decay_delta(policy, current=base, goal=second)
    in_two = decay.decay_delta(policy, current=base, goal=first)
    in_two += decay.decay_delta(policy, current=base + in_two, goal=second)
    assert in_one == in_two


# --- the nightly job ---------------------------------------------------------------

DAY0 = date(2026, 11, 2)
T0 = datetime(2026, 11, 2, 15, tzinfo=UTC)


def use(policy: Policy) -> None:
    services.decay_policy_set(policy=policy)


def engaged_lead(points: int, at: datetime = T0) -> Lead:
    """A lead with ``points`` of engagement from form submissions at ``at``."""
    lead = LeadFactory.create()
    for _ in range(points // 2):
        InteractionFactory.create(lead=lead, type="form_submit", occurred_at=at)
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert lead.engagement_score == points
    return lead


def assert_ledger_matches(lead: Lead) -> None:
    lead.refresh_from_db()
    rows = ScoreEntry.objects.filter(lead=lead)
    assert lead.engagement_score == sum(e.delta for e in rows if e.dimension == Dimension.ENGAGEMENT)
    assert lead.fit_score == sum(e.delta for e in rows if e.dimension == Dimension.FIT)


@pytest.fixture
def forms() -> None:
    ScoringRuleFactory.create(points=2, interaction_types=["form_submit"])


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
def test_nightly_linear_decay_writes_the_ledger_and_is_idempotent_per_day() -> None:
    use(LINEAR)
    quiet, active = engaged_lead(20), engaged_lead(20, at=T0 + timedelta(days=9))

    summary = services.leads_decay(today=DAY0 + timedelta(days=10))

    assert (summary.leads, summary.points) == (1, -6)
    quiet.refresh_from_db()
    assert quiet.engagement_score == 14
    entry = ScoreEntry.objects.get(lead=quiet, cause="decay")
    assert (entry.delta, entry.dimension) == (-6, "engagement")
    assert_ledger_matches(quiet)
    active.refresh_from_db()
    assert active.engagement_score == 20
    # The same day again: nothing moves.
    assert services.leads_decay(today=DAY0 + timedelta(days=10)).leads == 0
    assert ScoreEntry.objects.filter(cause="decay").count() == 1
    assert DecayRun.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
def test_missed_nights_are_caught_up_exactly_once() -> None:
    use(LINEAR)
    lead = engaged_lead(30)
    services.leads_decay(today=DAY0 + timedelta(days=8))
    services.leads_decay(today=DAY0 + timedelta(days=9))
    lead.refresh_from_db()
    assert lead.engagement_score == 26
    # Nights 10 to 12 are missed; night 13 applies exactly those days and its own.
    services.leads_decay(today=DAY0 + timedelta(days=13))
    services.leads_decay(today=DAY0 + timedelta(days=13))
    lead.refresh_from_db()
    assert lead.engagement_score == 30 - 2 * (13 - 7)
    assert list(ScoreEntry.objects.filter(lead=lead, cause="decay").order_by("id").values_list("delta", flat=True)) == [
        -2,
        -2,
        -8,
    ]
    assert_ledger_matches(lead)


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
def test_half_life_over_split_nights_equals_one_run() -> None:
    use(HALF)
    lead = engaged_lead(80)
    for day in range(1, 21):
        services.leads_decay(today=DAY0 + timedelta(days=day))
    lead.refresh_from_db()
    assert lead.engagement_score == 20
    assert_ledger_matches(lead)


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
def test_new_activity_restarts_decay_from_the_current_score() -> None:
    use(LINEAR)
    lead = engaged_lead(20)
    services.leads_decay(today=DAY0 + timedelta(days=10))  # 20 -> 14
    InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0 + timedelta(days=11))
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.engagement_base) == (16, 16)
    services.leads_decay(today=DAY0 + timedelta(days=15))  # 4 quiet days: within the grace period
    lead.refresh_from_db()
    assert lead.engagement_score == 16
    services.leads_decay(today=DAY0 + timedelta(days=21))  # 10 quiet days: 3 past the grace period
    lead.refresh_from_db()
    assert lead.engagement_score == 10
    assert_ledger_matches(lead)


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
def test_window_expires_old_points_even_for_active_leads() -> None:
    use(Policy(Kind.WINDOW, window_days=30))
    lead = engaged_lead(10, at=T0 - timedelta(days=40))
    InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0)
    services.interactions_score_pending()
    services.leads_decay(today=DAY0)
    lead.refresh_from_db()
    assert lead.engagement_score == 2
    assert services.leads_decay(today=DAY0).leads == 0
    assert_ledger_matches(lead)


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
def test_decay_moves_the_lead_to_a_lower_group() -> None:
    ScoreGroupFactory.create(key="nurture", min_score=10)
    hot = ScoreGroupFactory.create(key="hot", min_score=18)
    use(LINEAR)
    lead = engaged_lead(20)
    assert lead.score_group == hot
    services.leads_decay(today=DAY0 + timedelta(days=9))
    lead.refresh_from_db()
    assert lead.score_group is not None
    assert (lead.engagement_score, lead.score_group.key) == (16, "nurture")


@pytest.mark.django_db
def test_fit_never_decays() -> None:
    use(Policy(Kind.LINEAR, points_per_day=50))
    lead = LeadFactory.create()
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.FIT, delta=30, note="Known buyer")
    services.leads_decay(today=DAY0 + timedelta(days=400))
    lead.refresh_from_db()
    assert lead.fit_score == 30


@pytest.mark.django_db
def test_the_schedule_is_installed_by_migrations_with_expiries() -> None:
    sweep = PeriodicTask.objects.get(task="scoring.score_pending")
    assert sweep.interval is not None
    assert (sweep.interval.every, sweep.interval.period, sweep.expire_seconds) == (60, "seconds", 55)
    task = PeriodicTask.objects.get(task="scoring.decay_nightly")
    assert task.crontab is not None
    assert (task.crontab.hour, task.crontab.minute, task.enabled) == ("2", "30", True)
    assert task.expire_seconds


@pytest.mark.django_db
def test_setting_up_the_schedule_again_changes_nothing_and_keeps_edits() -> None:
    """What the migrations run, run again (as on a re-deploy): no new rows, and a
    marketer's change in the admin (a later decay hour) is kept."""
    from django.apps import apps

    from scoring import schedule

    nightly = PeriodicTask.objects.select_related("crontab").get(task="scoring.decay_nightly")
    assert nightly.crontab is not None
    nightly.crontab.hour = "4"
    nightly.crontab.save()
    before = list(PeriodicTask.objects.order_by("name").values_list("name", "task", "interval_id", "crontab_id"))

    schedule.install(apps, schedule.PERIODIC_TASKS)
    schedule.install_nightly(apps, schedule.NIGHTLY_TASKS)

    after = list(PeriodicTask.objects.order_by("name").values_list("name", "task", "interval_id", "crontab_id"))
    assert after == before
    nightly.refresh_from_db()
    assert nightly.crontab is not None
    assert nightly.crontab.hour == "4"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("forms")
def test_decay_in_parallel_sessions_equals_one_session(postgres: None) -> None:
    """Several database sessions on disjoint chunks give what one gives, once each."""
    use(LINEAR)
    ScoreGroupFactory.create(key="warm", min_score=10)
    leads = [engaged_lead(2 * (1 + n % 10), at=T0 - timedelta(days=n % 4)) for n in range(40)]
    day = DAY0 + timedelta(days=10)
    expected = {
        lead.pk: decay.target(LINEAR, base=lead.engagement_score, days=(day - (DAY0 - timedelta(days=n % 4))).days)
        for n, lead in enumerate(leads)
    }

    summary = services.leads_decay(today=day, chunk_size=3, jobs=3)

    got = dict(Lead.objects.values_list("pk", "engagement_score"))
    assert got == expected
    assert summary.leads == sum(1 for lead in leads if expected[lead.pk] != lead.engagement_score)
    assert ScoreEntry.objects.filter(cause="decay").count() == summary.leads
    for lead in leads:
        assert_ledger_matches(lead)
    assert services.leads_decay(today=day, chunk_size=3, jobs=3).leads == 0
