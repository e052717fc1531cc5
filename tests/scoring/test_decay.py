"""Decay: the policies' numbers, and the nightly job on the database."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import bulk, decay, services, setaside
from scoring.decay import Kind, Policy
from scoring.models import (
    Account,
    AccountEntry,
    AccountSettings,
    DecayRun,
    GroupTransition,
    Lead,
    ScoreEntry,
    SetAside,
    StaleAccount,
)
from scoring.rules import Dimension
from scoring.services import decay as decay_service
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory
from tests.ledgers import account_ledgers_match_cache

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
def test_a_day_after_today_is_refused_by_the_command_unless_allowed() -> None:
    """A day to come would take every quiet lead's decay up to it at once, and the nightly
    runs until then none: a mistyped year is refused, naming --day."""
    use(LINEAR)
    quiet = engaged_lead(20)
    tomorrow = timezone.localdate() + timedelta(days=1)

    with pytest.raises(CommandError, match=rf"^--day: {tomorrow} is after today \({timezone.localdate()} in "):
        call_command("scoring_decay", "--day", tomorrow.isoformat(), stdout=io.StringIO())

    assert not DecayRun.objects.exists()
    assert not ScoreEntry.objects.filter(cause="decay").exists()
    call_command("scoring_decay", "--day", tomorrow.isoformat(), "--allow-future", stdout=io.StringIO())
    assert DecayRun.objects.get().day == tomorrow
    quiet.refresh_from_db()
    assert quiet.engagement_score < 20


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
def test_nightly_linear_decay_writes_the_ledger_and_is_idempotent_per_day() -> None:
    use(LINEAR)
    quiet, active = engaged_lead(20), engaged_lead(20, at=T0 + timedelta(days=9))
    out = io.StringIO()

    call_command("scoring_decay", "--day", (DAY0 + timedelta(days=10)).isoformat(), stdout=out)

    run = DecayRun.objects.get()
    assert (run.leads, run.points) == (1, -6)
    # One scorecard: as many scores as leads, so the command does not count them apart.
    said = out.getvalue()
    assert said.startswith(f"Decay of {DAY0 + timedelta(days=10)}: 1 lead(s) lost 6 point(s)")
    assert "score(s)" not in said
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
    """Several database sessions on disjoint chunks give what one gives, once each; then
    they bring the accounts of the leads it moved in line with them."""
    use(LINEAR)
    ScoreGroupFactory.create(key="warm", min_score=10)
    AccountSettings.objects.update_or_create(pk=1, defaults={"rollup": "sum", "top_n": 3})
    leads = [engaged_lead(2 * (1 + n % 10), at=T0 - timedelta(days=n % 4)) for n in range(40)]
    # Eight accounts of five leads each, their leads in every chunk; in line before the night.
    accounts = [Account.objects.create(name=f"co{n}", domain=f"co{n}.example") for n in range(8)]
    for n, lead in enumerate(leads):
        Lead.objects.filter(pk=lead.pk).update(account=accounts[n % 8])
    services.accounts_rescore()
    StaleAccount.objects.all().delete()
    before = AccountEntry.objects.count()
    day = DAY0 + timedelta(days=10)
    expected = {
        lead.pk: decay.target(LINEAR, base=lead.engagement_score, days=(day - (DAY0 - timedelta(days=n % 4))).days)
        for n, lead in enumerate(leads)
    }

    summary = services.leads_decay(today=day, chunk_size=3, jobs=3)

    changed = [n for n, lead in enumerate(leads) if expected[lead.pk] != lead.engagement_score]
    got = dict(Lead.objects.values_list("pk", "engagement_score"))
    assert got == expected
    assert summary.leads == len(changed)
    assert ScoreEntry.objects.filter(cause="decay").count() == summary.leads
    for lead in leads:
        assert_ledger_matches(lead)
    totals = {account.pk: 0 for account in accounts}
    for account_id, total in Lead.objects.values_list("account_id", "total_score"):
        totals[account_id] += total
    assert dict(Account.objects.values_list("pk", "lead_score")) == totals
    assert not StaleAccount.objects.exists()
    # One account ledger row for each account whose leads moved, whichever session took it.
    assert summary.accounts == len({n % 8 for n in changed}) == AccountEntry.objects.count() - before
    account_ledgers_match_cache()
    again = services.leads_decay(today=day, chunk_size=3, jobs=3)
    assert (again.leads, again.accounts) == (0, 0)


# --- old data, extreme values: decay never stops -------------------------------------

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
ZONES = ["UTC", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "Europe/Madrid"]

extreme_policies = st.builds(
    Policy,
    kind=st.sampled_from([Kind.LINEAR, Kind.HALF_LIFE]),
    points_per_day=st.integers(1, INT_MAX),
    after_days=st.integers(0, INT_MAX),
    half_life_days=st.floats(min_value=5e-324, max_value=1e308, allow_nan=False, allow_infinity=False),
    floor=st.integers(INT_MIN, INT_MAX),
)
any_instant = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)


@given(
    extreme_policies,
    st.integers(INT_MIN, INT_MAX),
    st.integers(INT_MIN, INT_MAX),
    any_instant,
    st.dates(),
    st.sampled_from(ZONES),
)
def test_any_date_and_any_value_give_a_goal_a_ledger_row_can_hold(
    policy: Policy, base: int, current: int, base_at: datetime, today: date, zone: str
) -> None:
    days = decay.quiet_days_since(base_at, today, ZoneInfo(zone))
    goal = decay.target(policy, base=base, days=days)
    delta = decay.decay_delta(policy, current=current, goal=goal)
    assert 0 <= days <= (today - date(1, 1, 1)).days + 1
    assert min(base, policy.floor) <= goal <= base or goal == policy.floor
    assert decay.DELTA_MIN <= delta <= 0
    if current > policy.floor:
        assert current + delta >= policy.floor


def test_half_life_past_a_thousand_half_lives_is_exactly_zero_above_the_floor() -> None:
    policy = Policy(Kind.HALF_LIFE, half_life_days=1e-300, floor=-5)
    assert decay.target(policy, base=INT_MAX, days=1) == -5
    assert decay.target(Policy(Kind.HALF_LIFE, half_life_days=10), base=INT_MAX, days=(date.max - date.min).days) == 0
    assert decay.target(Policy(Kind.HALF_LIFE, half_life_days=10), base=INT_MAX, days=300) == 2  # ~2**31 / 2**30


def test_the_local_day_of_the_calendars_ends_counts_one_day_further_out() -> None:
    year_one = datetime(1, 1, 1, 3, tzinfo=UTC)  # 31 December of the year 0 in Los Angeles
    assert decay.quiet_days_since(year_one, date(1, 1, 2), ZoneInfo("America/Los_Angeles")) == 2
    assert decay.quiet_days_since(year_one, date(1, 1, 2), ZoneInfo("UTC")) == 1
    last = datetime(9999, 12, 31, 23, tzinfo=UTC)  # already the year 10000 in Kiritimati
    assert decay.quiet_days_since(last, date(9999, 12, 31), ZoneInfo("Pacific/Kiritimati")) == 0


def sql_goal(policy: Policy, *, base: int, current: int, base_at: datetime, today: date, zone: str) -> int:
    """The SQL path's goal for one lead, as the nightly statement computes it."""
    goal = decay_service._decay_goal_sql(policy.kind)
    params = {
        "floor": policy.floor,
        "per_day": policy.points_per_day,
        "after": policy.after_days,
        "half_life": policy.half_life_days or 1.0,
        "half_life_cap": decay.HALF_LIVES_MAX * (policy.half_life_days or 1.0),
        "today": today,
        "tz": zone,
        "base": base,
        "base_at": base_at,
        "current": current,
    }
    sql = (
        f"SELECT {goal} FROM (SELECT 0::bigint AS id, %(base)s::int AS engagement_base,"  # noqa: S608
        " %(base_at)s::timestamptz AS engagement_base_at, %(current)s::int AS engagement_score) l"
    )
    with transaction.atomic():  # a savepoint: an error is this example's alone
        ((value,),) = bulk.pg_execute_named(sql, params)  # as the nightly statement is sent
    return int(value)


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extreme_policies,
    st.integers(INT_MIN, INT_MAX),
    st.integers(INT_MIN, INT_MAX),
    any_instant,
    st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 12, 31)),
    st.sampled_from(ZONES),
)
def test_the_sql_and_python_paths_decay_any_lead_to_the_same_score(
    postgres: None, policy: Policy, base: int, current: int, base_at: datetime, today: date, zone: str
) -> None:
    if current <= policy.floor:
        return  # neither path looks at it
    goal = sql_goal(policy, base=base, current=current, base_at=base_at, today=today, zone=zone)
    moved = goal - current if policy.floor <= goal < current else 0
    days = decay.quiet_days_since(base_at, today, ZoneInfo(zone))
    assert moved == decay.decay_delta(policy, current=current, goal=decay.target(policy, base=base, days=days))


# Decay bases as a bug or a restore may leave them: 1900, the year 1, the first
# instant PostgreSQL stores, -infinity, the last instant, +infinity.
OLD_BASES = ["1900-01-01 00:00:00+00", "0001-01-01 00:00:00+00", "4714-11-24 00:00:00+00 BC", "-infinity"]
FUTURE_BASES = ["294276-12-31 23:59:59+00", "infinity"]
UNREADABLE = {"4714-11-24 00:00:00+00 BC", "-infinity", "294276-12-31 23:59:59+00", "infinity"}


def planted_lead(points: int, base_at: str, *, fit: int = 0) -> Lead:
    """A lead with ``points`` of engagement whose decay base is ``base_at`` (SQL literal)."""
    lead = LeadFactory.create()
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=points, note="seed", at=T0)
    if fit:
        services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.FIT, delta=fit, note="seed", at=T0)
    at: str | None
    if connection.vendor == "postgresql":  # PostgreSQL reads the literal itself, so times Python cannot hold plant too
        at, cast = base_at, "::timestamptz"
    else:  # SQLite keeps times as Django writes them (UTC text)
        at, cast = connection.ops.adapt_datetimefield_value(datetime.fromisoformat(base_at)), ""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE scoring_lead SET engagement_base_at = %s{cast} WHERE id = %s", [at, lead.pk])  # noqa: S608
        cursor.execute(f"UPDATE scoring_scoreentry SET occurred_at = %s{cast} WHERE lead_id = %s", [at, lead.pk])  # noqa: S608
    return lead


def sums_match(lead: Lead) -> bool:
    engagement = Lead.objects.values_list("engagement_score", flat=True).get(pk=lead.pk)
    return engagement == sum(
        ScoreEntry.objects.filter(lead=lead, dimension="engagement").values_list("delta", flat=True)
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
@pytest.mark.parametrize("path", ["sql", "python"])
@pytest.mark.parametrize(
    "policy",
    [LINEAR, HALF, Policy(Kind.WINDOW, window_days=30), Policy()],
    ids=["linear", "half_life", "window", "none"],
)
def test_every_policy_decays_leads_from_any_date_and_never_stops(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str, policy: Policy
) -> None:
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    use(policy)
    old = {base_at: planted_lead(20, base_at) for base_at in OLD_BASES}
    future = {base_at: planted_lead(20, base_at) for base_at in FUTURE_BASES}
    recent = engaged_lead(20) if policy.kind is not Kind.NONE else None
    day = DAY0 + timedelta(days=100)

    services.leads_decay(today=day)

    moved = policy.kind is not Kind.NONE
    for base_at, lead in old.items():
        if path == "python" and base_at in UNREADABLE:
            continue  # not even a Python date: set aside, below
        assert Lead.objects.values_list("engagement_score", flat=True).get(pk=lead.pk) == (0 if moved else 20)
        assert sums_match(lead)
    for lead in future.values():
        # Not quiet yet (linear, half-life); a window keeps points it has not reached.
        assert Lead.objects.values_list("engagement_score", flat=True).get(pk=lead.pk) == 20
    if recent is not None:
        assert (
            Lead.objects.values_list("engagement_score", flat=True).get(pk=recent.pk)
            == decay.decay_delta(
                policy,
                current=20,
                goal=decay.window_target(policy, recent=0)
                if policy.kind is Kind.WINDOW
                else decay.target(policy, base=20, days=(day - DAY0).days),
            )
            + 20
        )
    set_aside = set(SetAside.objects.values_list("row_id", flat=True))
    if path == "python" and moved:
        assert set_aside == {old[b].pk for b in OLD_BASES if b in UNREADABLE}
    else:
        assert set_aside == set()
    before = ScoreEntry.objects.count()
    services.leads_decay(today=day)
    assert ScoreEntry.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["sql", "python"])
def test_values_at_the_ends_of_32_bits_decay_without_overflow(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    use(Policy(Kind.LINEAR, points_per_day=INT_MAX, after_days=0, floor=INT_MIN))
    lead = planted_lead(INT_MAX, "0001-01-01 00:00:00+00")

    services.leads_decay(today=DAY0)

    # One run takes what a ledger row can hold; the next takes the rest, down to the floor.
    assert Lead.objects.values_list("engagement_score", flat=True).get(pk=lead.pk) == INT_MAX + decay.DELTA_MIN
    services.leads_decay(today=DAY0)
    assert Lead.objects.values_list("engagement_score", flat=True).get(pk=lead.pk) == INT_MIN
    assert sums_match(lead)
    assert not SetAside.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["sql", "python"])
def test_day_counts_longer_than_the_calendar_decay_nothing_or_count_everything(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The admin takes any 32-bit number of days: more than lie between the year 1 and today."""
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    lead = planted_lead(20, "0001-01-01 00:00:00+00")
    ancient = planted_lead(20, "4714-11-24 00:00:00+00 BC") if path == "sql" else None

    use(Policy(Kind.LINEAR, points_per_day=5, after_days=INT_MAX))
    assert services.leads_decay(today=DAY0).leads == 0  # nobody has been quiet that long
    use(Policy(Kind.WINDOW, window_days=INT_MAX))
    assert services.leads_decay(today=DAY0).leads == 0  # every point is inside the window
    use(Policy(Kind.WINDOW, window_days=30))
    assert services.leads_decay(today=DAY0).leads == (2 if ancient else 1)

    assert Lead.objects.values_list("engagement_score", flat=True).get(pk=lead.pk) == 0
    assert not SetAside.objects.exists()


@pytest.mark.django_db
def test_a_policy_edited_past_the_checks_stops_the_run_before_it_moves_anything() -> None:
    use(LINEAR)
    lead = planted_lead(20, "1900-01-01 00:00:00+00")
    # Not a number on PostgreSQL; SQLite keeps no NaN (it writes NULL), but an infinite half-life.
    not_finite = "'NaN'" if connection.vendor == "postgresql" else "1e999"
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE scoring_decaypolicy SET kind = 'half_life', half_life_days = {not_finite}")  # noqa: S608

    with pytest.raises(ValueError, match="half_life_days"):
        services.leads_decay(today=DAY0)

    assert Lead.objects.values_list("engagement_score", flat=True).get(pk=lead.pk) == 20
    assert not SetAside.objects.exists()


# --- a lead that makes the statement fail -------------------------------------------

FAIL_FOR_ONE = """
CREATE FUNCTION test_decay_refuses() RETURNS trigger AS $$
BEGIN
    IF NEW.id = {lead_id} AND NEW.engagement_score <> OLD.engagement_score THEN
        RAISE EXCEPTION 'lead % refuses to decay', NEW.id;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_decay_refuses BEFORE UPDATE ON scoring_lead FOR EACH ROW EXECUTE FUNCTION test_decay_refuses();
"""


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
@pytest.mark.parametrize("path", ["sql", "python"])
def test_a_lead_that_makes_its_chunk_fail_is_set_aside_and_the_chunk_goes_on(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    use(LINEAR)
    leads = [engaged_lead(2 * (5 + n), at=T0 - timedelta(days=n)) for n in range(7)]
    bad = leads[3]
    with connection.cursor() as cursor:
        cursor.execute(FAIL_FOR_ONE.format(lead_id=int(bad.pk)))
    day = DAY0 + timedelta(days=10)
    expected = {
        lead.pk: decay.target(LINEAR, base=2 * (5 + n), days=10 + n) for n, lead in enumerate(leads) if lead != bad
    }

    summary = services.leads_decay(today=day)

    got = dict(Lead.objects.values_list("pk", "engagement_score"))
    assert {pk: got[pk] for pk in expected} == expected
    assert got[bad.pk] == 16
    assert summary.leads == len(expected)
    row = SetAside.objects.get()
    assert (row.kind, row.row_id, row.lead_id) == ("decay", bad.pk, bad.pk)
    assert f"lead {bad.pk} refuses to decay" in row.error
    # The next night leaves it alone (it is set aside) and doubles nothing.
    services.leads_decay(today=day)
    assert (SetAside.objects.get().failures, ScoreEntry.objects.filter(cause="decay").count()) == (1, len(expected))

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_decay_refuses ON scoring_lead")
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert retried.ok
    quiet = (timezone.localdate() - (DAY0 - timedelta(days=3))).days
    assert Lead.objects.values_list("engagement_score", flat=True).get(pk=bad.pk) == decay.target(
        LINEAR, base=16, days=quiet
    )
    assert ScoreEntry.objects.filter(lead=bad, cause="decay").count() == 1
    assert sums_match(bad)


@pytest.mark.django_db
@pytest.mark.usefixtures("forms")
def test_scoring_and_decay_told_a_past_time_write_their_rows_and_transitions_then() -> None:
    """A history played day by day (the demo's) dates what each run writes by the run's
    time, not by the time it was played."""
    use(LINEAR)
    ScoreGroupFactory.create(min_score=10)
    lead = LeadFactory.create()
    for _ in range(6):
        InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0)
    evening = T0 + timedelta(hours=6)
    services.interactions_score_pending(now=evening)
    lead.refresh_from_db()
    assert lead.engagement_score == 12
    up = GroupTransition.objects.get(lead=lead, direction="up")
    assert up.occurred_at == evening
    # The rule rows keep the time the interactions happened.
    assert set(ScoreEntry.objects.filter(lead=lead).values_list("occurred_at", flat=True)) == {T0}

    night = datetime(2026, 11, 12, 2, 30, tzinfo=UTC)
    summary = services.leads_decay(today=DAY0 + timedelta(days=10), now=night)
    assert summary.points == -6
    entry = ScoreEntry.objects.get(lead=lead, cause="decay")
    assert entry.occurred_at == night
    down = GroupTransition.objects.get(lead=lead, direction="down")
    assert down.occurred_at == night
    assert DecayRun.objects.get(day=DAY0 + timedelta(days=10)).finished_at == night
    assert_ledger_matches(lead)
