"""Results never depend on batching, arrival order or rescoring: caps and windows are
judged in the order things happened (late interactions revise earlier awards), a
rescore leaves the history caps read, floors hold after a rescore, a change that
crosses several groups crosses each, and decay counts from the last interaction."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from scoring import decay, services
from scoring import rules as pure
from scoring.models import GroupTransition, Lead, ScoreEntry, ScoringRule, WaitingInteraction
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n - 1)


def engagement(lead: Lead) -> int:
    """The lead's cached engagement, checked against the ledger's sum."""
    lead.refresh_from_db()
    ledger = ScoreEntry.objects.filter(lead=lead, dimension="engagement").aggregate(s=Sum("delta"))["s"] or 0
    assert lead.engagement_score == ledger
    return lead.engagement_score


def awarded(lead: Lead) -> dict[str, int]:
    """Net points per interaction (by idempotency key), those not 0."""
    rows = (
        ScoreEntry.objects.filter(lead=lead, interaction__isnull=False)
        .values_list("interaction__idempotency_key")
        .annotate(points=Sum("delta"))
    )
    return {key: points for key, points in rows if points}


def opens(lead: Lead, *days: int, batches: bool) -> None:
    for n in days:
        InteractionFactory.create(lead=lead, type="email_open", occurred_at=day(n), idempotency_key=f"{lead.pk}-{n}")
        if batches:
            services.interactions_score_pending()
    services.interactions_score_pending()


@pytest.fixture
def once_per_ten_days() -> ScoringRule:
    return ScoringRuleFactory.create(
        key="opens", points=2, interaction_types=["email_open"], cap_count=1, cap_window_days=10
    )


# --- caps and windows in the order things happened ---------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("once_per_ten_days")
def test_a_window_is_judged_in_the_order_things_happened_however_they_arrive() -> None:
    """Once per 10 days, opens dated day 10, day 1, day 19. In the order they happened:
    day 1 is awarded; day 10 is 9 days later, inside the window, refused; day 19 is 18
    days after day 1, the last award, so it is awarded: 4 points, every way."""
    together, apart, rescored = LeadFactory.create_batch(3)
    opens(together, 10, 1, 19, batches=False)
    opens(apart, 10, 1, 19, batches=True)
    opens(rescored, 10, 1, 19, batches=True)
    services.leads_rescore(lead_ids=[rescored.pk])

    for lead in (together, apart, rescored):
        assert engagement(lead) == 4
        assert awarded(lead) == {f"{lead.pk}-1": 2, f"{lead.pk}-19": 2}
    # Arriving one by one, day 10 was awarded first, then revised when day 1 came:
    # the ledger says so, tied to day 10's interaction.
    revision = ScoreEntry.objects.get(lead=apart, cause="revised")
    assert revision.interaction is not None
    assert (revision.delta, revision.interaction.idempotency_key) == (-2, f"{apart.pk}-10")
    assert revision.occurred_at == day(10)
    # The rescore found nothing to change.
    assert not ScoreEntry.objects.filter(lead=rescored, cause="rescore").exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("once_per_ten_days")
def test_a_late_interaction_can_turn_a_refusal_into_an_award() -> None:
    """Once per 10 days, days 5, 12, 16: 5 awarded, 12 refused (7 days), 16 awarded
    (11). Day 1 comes late: 1 awarded, 5 refused (4 days), 12 awarded now (11 days
    after day 1), 16 refused (4 after 12): three revisions, one of them an award."""
    lead = LeadFactory.create()
    opens(lead, 5, 12, 16, batches=True)
    assert awarded(lead) == {f"{lead.pk}-5": 2, f"{lead.pk}-16": 2}
    opens(lead, 1, batches=True)
    assert awarded(lead) == {f"{lead.pk}-1": 2, f"{lead.pk}-12": 2}
    revised = ScoreEntry.objects.filter(lead=lead, cause="revised").values_list("interaction__idempotency_key", "delta")
    assert sorted(revised) == sorted([(f"{lead.pk}-5", -2), (f"{lead.pk}-12", 2), (f"{lead.pk}-16", -2)])
    assert engagement(lead) == 4
    # In one batch, the same.
    other = LeadFactory.create()
    opens(other, 5, 12, 16, 1, batches=False)
    assert sorted(awarded(other).values()) == [2, 2]
    assert f"{other.pk}-12" in awarded(other)


@pytest.mark.django_db
def test_a_points_cap_clips_in_the_order_things_happened() -> None:
    ScoringRuleFactory.create(key="downloads", points=4, interaction_types=["download"], cap_points=6)
    lead = LeadFactory.create()
    for n in (5, 3, 1):
        InteractionFactory.create(lead=lead, type="download", occurred_at=day(n), idempotency_key=f"d{n}")
        services.interactions_score_pending()
    # In time order: day 1 +4, day 3 clipped to +2, day 5 nothing.
    assert awarded(lead) == {"d1": 4, "d3": 2}
    assert engagement(lead) == 6


# --- rescore ------------------------------------------------------------------


@pytest.mark.django_db
def test_caps_read_the_same_history_after_a_rescore() -> None:
    """A lead with 4 webinars under a new "+5, at most 2 times" is rescored to 10; one
    more webinar keeps it at 10, and rescoring again changes nothing."""
    lead = LeadFactory.create()
    for n in range(4):
        InteractionFactory.create(lead=lead, type="webinar", occurred_at=day(n + 1))
    services.interactions_score_pending()
    assert engagement(lead) == 0
    ScoringRuleFactory.create(key="webinars", points=5, interaction_types=["webinar"], cap_count=2)

    services.leads_rescore(lead_ids=[lead.pk])
    assert engagement(lead) == 10
    InteractionFactory.create(lead=lead, type="webinar", occurred_at=day(10))
    services.interactions_score_pending()
    assert engagement(lead) == 10
    rows = ScoreEntry.objects.count()
    services.leads_rescore(lead_ids=[lead.pk])
    assert engagement(lead) == 10
    assert ScoreEntry.objects.count() == rows


@pytest.mark.django_db
def test_a_rescore_takes_back_what_the_rescores_of_old_wrote_per_rule() -> None:
    """Ledgers written before rescores were tied to interactions hold per-rule rows
    without one: a rescore now takes them back and writes the awards per interaction."""
    rule = ScoringRuleFactory.create(key="webinars", points=5, interaction_types=["webinar"], cap_count=2)
    lead = LeadFactory.create()
    for n in range(4):
        InteractionFactory.create(lead=lead, type="webinar", occurred_at=day(n + 1))
    WaitingInteraction.objects.all().delete()  # scored, by the rescores of old
    ScoreEntry.objects.create(lead=lead, dimension="engagement", delta=10, cause="rescore", rule=rule, occurred_at=T0)
    Lead.objects.filter(pk=lead.pk).update(engagement_score=10, total_score=10)

    services.leads_rescore(lead_ids=[lead.pk])
    assert engagement(lead) == 10
    assert sum(awarded(lead).values()) == 10
    InteractionFactory.create(lead=lead, type="webinar", occurred_at=day(10))
    services.interactions_score_pending()
    assert engagement(lead) == 10


@pytest.mark.django_db
def test_a_rescore_after_decay_never_takes_engagement_below_the_floor() -> None:
    services.decay_policy_set(policy=decay.Policy(decay.Kind.LINEAR, points_per_day=5, after_days=0))
    rule = ScoringRuleFactory.create(key="forms", points=10, interaction_types=["form_submit"])
    lead = LeadFactory.create()
    for n in range(2):
        InteractionFactory.create(lead=lead, type="form_submit", occurred_at=day(1) + timedelta(hours=n))
    services.interactions_score_pending()
    assert engagement(lead) == 20
    services.leads_decay(today=date(2026, 10, 30))
    assert engagement(lead) == 0  # decayed to the floor
    ScoringRule.objects.filter(pk=rule.pk).update(points=5)

    services.leads_rescore(lead_ids=[lead.pk])
    assert engagement(lead) == 0  # not -10: decay gave back what would cross the floor
    rows = ScoreEntry.objects.count()
    services.leads_rescore(lead_ids=[lead.pk])
    assert ScoreEntry.objects.count() == rows
    services.leads_decay(today=date(2026, 10, 31))
    assert engagement(lead) == 0


# --- decay counts from the last interaction -------------------------------------


@pytest.mark.django_db
def test_decay_counts_quiet_days_from_the_last_interaction_even_one_worth_nothing() -> None:
    """A lead downloading every day under a capped rule gets no more points, but it is
    not quiet: it does not decay. Once it stops, decay counts from its last download."""
    services.decay_policy_set(policy=decay.Policy(decay.Kind.LINEAR, points_per_day=1, after_days=7))
    ScoringRuleFactory.create(key="downloads", points=10, interaction_types=["download"], cap_count=1)
    lead = LeadFactory.create()
    for n in range(1, 21):
        InteractionFactory.create(lead=lead, type="download", occurred_at=day(n))
        services.interactions_score_pending()
        services.leads_decay(today=day(n).date())
    assert engagement(lead) == 10
    lead.refresh_from_db()
    assert lead.engagement_base_at == day(20)
    services.leads_decay(today=(day(20) + timedelta(days=9)).date())  # 9 quiet days: 2 past the grace period
    assert engagement(lead) == 8


# --- several groups in one change -----------------------------------------------


def test_a_change_across_several_groups_crosses_each_in_order() -> None:
    bands = [pure.Band(1, 20), pure.Band(2, 40, leave_below=35), pure.Band(3, 60, leave_below=55)]
    up = pure.groups_crossed(None, 3, 0, 70, bands)
    assert [(s.from_group, s.to_group) for s in up] == [(None, 1), (1, 2), (2, 3)]
    assert [(s.previous_total, s.total) for s in up] == [(0, 20), (20, 40), (40, 70)]
    down = pure.groups_crossed(3, 1, 70, 25, bands)
    assert [(s.from_group, s.to_group) for s in down] == [(3, 2), (2, 1)]
    assert [(s.previous_total, s.total) for s in down] == [(70, 54), (54, 25)]
    assert [(s.from_group, s.to_group) for s in pure.groups_crossed(3, None, 70, 5, bands)] == [
        (3, 2),
        (2, 1),
        (1, None),
    ]
    assert pure.groups_crossed(2, 2, 45, 50, bands) == [pure.Step(2, 2, 45, 50)]


@given(
    mins=st.lists(st.integers(-50, 150), min_size=1, max_size=5, unique=True),
    gaps=st.lists(st.integers(0, 10), min_size=5, max_size=5),
    before=st.integers(-100, 200),
    after=st.integers(-100, 200),
)
def test_the_steps_of_a_change_cover_it_once_in_order(
    mins: list[int], gaps: list[int], before: int, after: int
) -> None:
    """Each step starts where the one before ended, the last ends at the new total, and
    so a watched score between the two totals lies in exactly one step."""
    bands = [pure.Band(k + 1, m, m - gaps[k]) for k, m in enumerate(mins)]
    start = pure.group_for(before, bands)
    end = pure.group_for(after, bands, current=start)
    steps = pure.groups_crossed(start, end, before, after, bands)
    assert steps[0].from_group == start
    assert steps[-1].to_group == end
    assert steps[0].previous_total == before
    assert steps[-1].total == after
    for a, b in itertools.pairwise(steps):
        assert a.to_group == b.from_group
        assert a.total == b.previous_total
    low, high = sorted((before, after))
    for watched in range(low + 1, high + 1):
        crossing = [s for s in steps if pure.crosses_watch(s.previous_total, s.total, [watched])]
        assert len(crossing) == 1


@pytest.mark.django_db
def test_one_change_across_several_groups_records_a_transition_per_group() -> None:
    warm = ScoreGroupFactory.create(key="warm", min_score=20)
    mql = ScoreGroupFactory.create(key="mql", min_score=40)
    ready = ScoreGroupFactory.create(key="sql-ready", min_score=60)
    lead = LeadFactory.create()
    services.lead_adjust_score(lead_id=lead.pk, dimension=pure.Dimension.ENGAGEMENT, delta=70, note="one change")
    assert list(
        GroupTransition.objects.filter(lead=lead).order_by("id").values_list("from_group", "to_group", "direction")
    ) == [(None, warm.pk, "up"), (warm.pk, mql.pk, "up"), (mql.pk, ready.pk, "up")]


@pytest.mark.django_db
def test_decay_across_several_groups_crosses_each_in_order() -> None:
    """The same on PostgreSQL's set-based decay and on the portable one."""
    warm = ScoreGroupFactory.create(key="warm", min_score=20)
    mql = ScoreGroupFactory.create(key="mql", min_score=40, leave_below=35)
    ready = ScoreGroupFactory.create(key="sql-ready", min_score=60)
    services.decay_policy_set(policy=decay.Policy(decay.Kind.LINEAR, points_per_day=30, after_days=0))
    lead = LeadFactory.create()
    services.lead_adjust_score(lead_id=lead.pk, dimension=pure.Dimension.ENGAGEMENT, delta=70, note="one change")
    GroupTransition.objects.all().delete()

    services.leads_decay(today=timezone.localdate() + timedelta(days=2))  # 70 - 60 = 10: below every group
    assert engagement(lead) == 10
    steps = GroupTransition.objects.filter(lead=lead).order_by("id")
    assert list(steps.values_list("from_group", "to_group", "direction", "previous_total", "total_score")) == [
        (ready.pk, mql.pk, "down", 70, 59),
        (mql.pk, warm.pk, "down", 59, 34),
        (warm.pk, None, "down", 34, 10),
    ]


# --- the awards of one batch, rule by rule ----------------------------------------------

KINDS = ["email_open", "email_click", "page_view", "webinar"]
conditions = st.sampled_from([(), (pure.Condition("x", pure.Operator.EQUALS, 1),)])
caps = st.none() | st.builds(
    pure.Cap,
    count=st.none() | st.integers(1, 2),
    points=st.none() | st.integers(1, 6),
    window_days=st.none() | st.integers(1, 3),
)


@st.composite
def batches(draw: st.DrawFn, *, capped: bool) -> tuple[list[pure.Rule], list[pure.InteractionFacts]]:
    """Rules of one or more types (any order, some of no type, some of fit) and a batch of
    interactions of a few leads, at moments that tie now and then."""
    rules = [
        pure.Rule(
            id=100 + n,
            dimension=draw(st.sampled_from([pure.Dimension.ENGAGEMENT] * 4 + [pure.Dimension.FIT])),
            points=draw(st.integers(-3, 5)),
            conditions=draw(conditions),
            interaction_types=frozenset(draw(st.lists(st.sampled_from(KINDS), max_size=3))),
            cap=draw(caps) if capped else None,
            valid_until=draw(st.sampled_from([None, day(3)])),
        )
        for n in range(draw(st.integers(1, 8)))
    ]
    interactions = [
        pure.InteractionFacts(
            n,
            draw(st.integers(1, 3)),
            draw(st.sampled_from(KINDS)),
            day(draw(st.integers(1, 5))),
            draw(st.sampled_from([{}, {"x": 1}, {"x": 2}])),
        )
        for n in draw(st.permutations(range(1, draw(st.integers(0, 12)) + 1)))
    ]
    return rules, interactions


@given(batch=batches(capped=False))
def test_rules_without_a_cap_give_their_points_to_every_interaction_they_match_in_order(
    batch: tuple[list[pure.Rule], list[pure.InteractionFacts]],
) -> None:
    rules, interactions = batch
    expected = []
    for lead_id in dict.fromkeys(i.lead_id for i in interactions):
        for rule in rules:
            for i in sorted(interactions, key=lambda i: (i.occurred_at, i.id)):
                if i.lead_id == lead_id and pure.rule_matches_interaction(rule, i) and rule.points:
                    expected.append(pure.Change(lead_id, rule.id, i.id, i.occurred_at, rule.points))
    assert pure.score_interactions_in_order(rules, interactions, {}) == expected


@given(batch=batches(capped=True), earlier=st.lists(st.integers(1, 5), max_size=4))
def test_a_rule_without_a_cap_awards_as_one_whose_cap_is_never_reached(
    batch: tuple[list[pure.Rule], list[pure.InteractionFacts]], earlier: list[int]
) -> None:
    """Rules without a cap take a short way; with a cap no lead can reach they take the
    long one, which judges them in order as it judges capped rules. Both give the same."""
    rules, interactions = batch
    capped = [r for r in rules if r.cap is not None and r.dimension is pure.Dimension.ENGAGEMENT]
    # What the capped rules gave before, and the interactions after it judged again.
    history = {
        (lead_id, rule.id): [pure.Award(lead_id, rule.id, 900 + n, day(d), rule.points) for n, d in enumerate(earlier)]
        for lead_id in (1, 2, 3)
        for rule in capped
    }
    later = [pure.InteractionFacts(900 + n, 1, KINDS[n % len(KINDS)], day(d), {"x": 1}) for n, d in enumerate(earlier)]
    never = pure.Cap(count=10**9)
    unreachable = [
        dataclasses.replace(r, cap=never) if r.cap is None and r.dimension is pure.Dimension.ENGAGEMENT else r
        for r in rules
    ]
    assert pure.score_interactions_in_order(rules, interactions, history, later) == pure.score_interactions_in_order(
        unreachable, interactions, history, later
    )
