"""Properties of the pure scoring code over any interleaving of work.

A simulated ledger is driven the way the services drive the real one: batches
of interactions claimed in any order and size, fit re-evaluations in between.
After every step the cached scores equal the ledger's sums, and caps hold.
"""

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import rules as pure
from scoring.rules import Cap, Condition, Dimension, InteractionFacts, Operator, Rule

T0 = datetime(2026, 1, 1, tzinfo=UTC)

RULES = [
    Rule(id=1, dimension=Dimension.ENGAGEMENT, points=2, interaction_types=frozenset({"email_open", "email_click"})),
    Rule(
        id=2, dimension=Dimension.ENGAGEMENT, points=3, interaction_types=frozenset({"form_submit"}), cap=Cap(count=2)
    ),
    Rule(
        id=3, dimension=Dimension.ENGAGEMENT, points=-4, interaction_types=frozenset({"page_view"}), cap=Cap(points=10)
    ),
    Rule(
        id=4,
        dimension=Dimension.ENGAGEMENT,
        points=1,
        interaction_types=frozenset({"email_open"}),
        cap=Cap(count=3, window_days=10),
    ),
    Rule(id=5, dimension=Dimension.FIT, points=8, conditions=(Condition("city", Operator.EQUALS, "San José"),)),
    Rule(id=6, dimension=Dimension.FIT, points=-5, conditions=(Condition("attributes.km", Operator.GT, 80),)),
]
TYPES = ["email_open", "email_click", "form_submit", "page_view"]

interactions_st = st.lists(
    st.tuples(st.integers(1, 3), st.sampled_from(TYPES), st.integers(0, 60)), min_size=0, max_size=40
).map(
    lambda rows: [
        InteractionFacts(id=i, lead_id=lead, type=kind, occurred_at=T0 + timedelta(days=day))
        for i, (lead, kind, day) in enumerate(rows)
    ]
)
attributes_st = st.fixed_dictionaries(
    {"city": st.sampled_from(["San José", "Fresno", ""]), "attributes.km": st.sampled_from([5, 200, None])}
)


class Ledger:
    def __init__(self) -> None:
        self.rows: list[tuple[int, str, int, int | None, pure.Award | None]] = []  # lead, dim, delta, rule, award
        self.cached: dict[int, pure.Scores] = {}

    def apply(self, rows: list[tuple[int, str, int, int | None, pure.Award | None]]) -> None:
        self.cached.update(pure.scores_moved(self.cached, ((lead, dim, delta) for lead, dim, delta, _, _ in rows)))
        self.rows.extend(rows)

    def history(self) -> dict[tuple[int, int], list[pure.Award]]:
        history: dict[tuple[int, int], list[pure.Award]] = defaultdict(list)
        for _, _, _, _, award in self.rows:
            if award is not None:
                history[(award.lead_id, award.rule_id)].append(award)
        return history

    def score_batch(self, batch: list[InteractionFacts]) -> None:
        awards = pure.score_interactions(RULES, batch, self.history())
        self.apply([(a.lead_id, Dimension.ENGAGEMENT, a.points, a.rule_id, a) for a in awards])

    def rescore_fit(self, lead_id: int, values: Mapping[str, object]) -> None:
        current: dict[int, int] = defaultdict(int)
        for lead, dim, delta, rule, _ in self.rows:
            if lead == lead_id and dim == Dimension.FIT and rule is not None:
                current[rule] += delta
        deltas = pure.fit_deltas(pure.fit_targets(RULES, values, at=T0), current)
        self.apply([(lead_id, Dimension.FIT, delta, rule, None) for rule, delta in deltas.items()])

    def sums(self) -> dict[int, pure.Scores]:
        fit: dict[int, int] = defaultdict(int)
        engagement: dict[int, int] = defaultdict(int)
        for lead, dim, delta, _, _ in self.rows:
            (fit if dim == Dimension.FIT else engagement)[lead] += delta
        return {lead: pure.Scores(fit[lead], engagement[lead]) for lead in set(fit) | set(engagement)}


@settings(max_examples=300, deadline=None)
@given(
    interactions=interactions_st,
    data=st.data(),
)
def test_cached_scores_equal_ledger_sums_under_any_interleaving(
    interactions: list[InteractionFacts], data: st.DataObject
) -> None:
    ledger = Ledger()
    pending = data.draw(st.permutations(interactions))
    while pending:
        size = data.draw(st.integers(1, len(pending)))
        ledger.score_batch(pending[:size])
        pending = pending[size:]
        if data.draw(st.booleans()):
            lead = data.draw(st.integers(1, 3))
            ledger.rescore_fit(lead, data.draw(attributes_st))
        assert ledger.cached == ledger.sums()

    # Each interaction is scored by a rule at most once.
    pairs = [(a.interaction_id, a.rule_id) for *_, a in ledger.rows if a is not None]
    assert len(pairs) == len(set(pairs))

    history = ledger.history()
    for (_lead, rule_id), awards in history.items():
        rule = next(r for r in RULES if r.id == rule_id)
        if rule.cap is None:
            continue
        if rule.cap.window_days is None:
            if rule.cap.count is not None:
                assert len(awards) <= rule.cap.count
            if rule.cap.points is not None:
                assert sum(abs(a.points) for a in awards) <= rule.cap.points
        else:
            # No period of window_days holds more than the cap, whatever the arrival order.
            window = timedelta(days=rule.cap.window_days)
            for start in awards:
                inside = [a for a in awards if start.occurred_at <= a.occurred_at < start.occurred_at + window]
                assert len(inside) <= (rule.cap.count or len(inside))


@settings(max_examples=200, deadline=None)
@given(interactions=interactions_st, data=st.data())
def test_totals_do_not_depend_on_batching_for_order_free_rules(
    interactions: list[InteractionFacts], data: st.DataObject
) -> None:
    """Uncapped rules and caps without a window give the same totals however work is split."""
    one_go = Ledger()
    one_go.score_batch(interactions)
    split = Ledger()
    pending = data.draw(st.permutations(interactions))
    while pending:
        size = data.draw(st.integers(1, len(pending)))
        split.score_batch(pending[:size])
        pending = pending[size:]

    def order_free_totals(ledger: Ledger) -> dict[tuple[int, int], int]:
        totals: dict[tuple[int, int], int] = defaultdict(int)
        for lead, _, delta, rule, _ in ledger.rows:
            if rule in (1, 2, 3):
                totals[(lead, rule)] += delta
        return dict(totals)

    assert order_free_totals(one_go) == order_free_totals(split)


@given(values=attributes_st, before=attributes_st)
def test_fit_rescoring_lands_on_the_targets_from_any_start(
    values: dict[str, object], before: dict[str, object]
) -> None:
    ledger = Ledger()
    ledger.rescore_fit(1, before)
    ledger.rescore_fit(1, values)
    expected = sum(pure.fit_targets(RULES, values, at=T0).values())
    assert ledger.cached.get(1, pure.Scores()).fit == expected
    # Running it again changes nothing.
    rows = len(ledger.rows)
    ledger.rescore_fit(1, values)
    assert len(ledger.rows) == rows


# Rules 1-3 on the default scorecard, 4 (a windowed cap) and 7-8 on scorecard 10, 9 on 20: the
# engine scores every scorecard's rules in one pass, each award keyed by its rule's scorecard.
CARD_OF = {4: 10, 7: 10, 8: 10, 9: 20}
CARD_RULES = [
    *RULES,
    Rule(id=7, dimension=Dimension.ENGAGEMENT, points=5, interaction_types=frozenset({"page_view"}), cap=Cap(count=2)),
    Rule(id=8, dimension=Dimension.ENGAGEMENT, points=1, interaction_types=frozenset({"email_open", "page_view"})),
    Rule(
        id=9, dimension=Dimension.ENGAGEMENT, points=-2, interaction_types=frozenset({"form_submit"}), cap=Cap(points=5)
    ),
]


def scorecard_totals(awards: list[pure.Award], *, order_free_only: bool) -> dict[tuple[int, int | None], int]:
    totals: dict[tuple[int, int | None], int] = defaultdict(int)
    for award in awards:
        if order_free_only and award.rule_id == 4:  # the windowed cap depends on arrival order
            continue
        totals[(award.lead_id, CARD_OF.get(award.rule_id))] += award.points
    return dict(totals)


@settings(max_examples=300, deadline=None)
@given(interactions=interactions_st, data=st.data())
def test_batching_does_not_change_any_scorecards_score(
    interactions: list[InteractionFacts], data: st.DataObject
) -> None:
    """Each scorecard's score is the same whether its rules are scored alone in one go or with
    every other scorecard's, in batches of any size and order (for rules whose outcome does not
    depend on arrival order)."""
    alone: list[pure.Award] = []
    for card in (None, 10, 20):
        rules = [r for r in CARD_RULES if CARD_OF.get(r.id) == card]
        alone += pure.score_interactions(rules, interactions, {})

    together: list[pure.Award] = []
    history: dict[tuple[int, int], list[pure.Award]] = defaultdict(list)
    pending = data.draw(st.permutations(interactions))
    while pending:
        size = data.draw(st.integers(1, len(pending)))
        batch = pure.score_interactions(CARD_RULES, pending[:size], history)
        for award in batch:
            history[(award.lead_id, award.rule_id)].append(award)
        together += batch
        pending = pending[size:]

    assert scorecard_totals(together, order_free_only=True) == scorecard_totals(alone, order_free_only=True)
