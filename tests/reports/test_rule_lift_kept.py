"""The rule lift read from the sums the origins' rebuild keeps (reports.queries.lift):
equal to the figures counted from the ledger and the outcomes, right after a rebuild and
after a win, a ledger row, a new lead, an earlier first interaction or an erasure that
came after it; and a second rebuild writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports.filters import Choices, filters_parse
from reports.models import RuleLiftCount
from reports.queries import rule_lift
from reports.queries.lift import LiftCounts, lift_counts, lift_counts_live
from reports.tables import BY_SLUG
from routing.models import Outcome
from scoring.models import Lead
from tests.factories import LeadFactory
from tests.reports.closed_loop_data import History, at, came_from, closed_loop_history, ledger, outcome, rebuilt

pytestmark = pytest.mark.django_db

VARIANTS: list[dict[str, str]] = [
    {},
    {"start": "2026-11-01"},
    {"end": "2026-10-31"},
    {"start": "2026-10-15", "end": "2026-11-01"},
    {"source": "form"},
    {"source": "api:abc"},
    {"source": "tracking", "start": "2026-11-01"},
]


@pytest.fixture
def history() -> History:
    return closed_loop_history()


def counts(params: dict[str, str], *, live: bool = False) -> LiftCounts:
    filters, errors = filters_parse(params, applies=BY_SLUG["rule-lift"].filters, choices=Choices.load())
    assert errors == {}
    return lift_counts_live(filters) if live else lift_counts(filters)


def every_variant(*, live: bool = False) -> list[LiftCounts]:
    return [counts(params, live=live) for params in VARIANTS]


def kept_sums() -> list[tuple[Any, ...]]:
    return list(
        RuleLiftCount.objects.order_by("day", "source", "rule_id").values_list(
            "day", "source", "rule_id", "leads", "converted"
        )
    )


def test_the_kept_sums_are_the_hand_counted_figures(history: History) -> None:
    rebuilt()
    rules = history.rules
    # Right industry scored L1, L2, L4 (L1 won); Careers page L4 (L1's award taken back
    # whole); Demo request L1 to L4 (L1 and L3 won). Five leads, two won.
    assert counts({}) == LiftCounts(
        5, 2, {rules["industry"].pk: (3, 1), rules["careers"].pk: (1, 0), rules["demo"].pk: (4, 2)}
    )
    # Kept per day of creation and source: L5 alone on Oct 15, with no source.
    assert RuleLiftCount.objects.get(day=at(10, 15).date(), rule=None).source == ""
    assert counts({"end": "2026-10-31"}) == LiftCounts(1, 0, {})
    assert every_variant() == every_variant(live=True)


def test_a_second_rebuild_writes_nothing_and_keeps_the_same_sums(history: History) -> None:
    rebuilt()
    first = kept_sums()
    assert first
    assert rebuilt() == 0
    assert kept_sums() == first


def test_the_report_reads_the_kept_sums(history: History) -> None:
    rebuilt()
    RuleLiftCount.objects.filter(rule=history.rules["careers"]).update(leads=4)
    # Careers page now "scored" four leads: read from the sums, not from the ledger.
    row = next(
        r for r in rule_lift(filters_parse({}, applies=(), choices=Choices.load())[0]) if r.rule.name == "Careers page"
    )
    assert row.scored == 4


def test_events_after_the_rebuild_count_at_once(history: History) -> None:
    rebuilt()
    _, _, l3, l4, l5 = history.leads
    outcome(history.items[1], Outcome.Kind.WON, at(12, 5), None)  # L2 wins
    ledger(l5, history.rules["careers"], -5, at(12, 5))  # Careers page scores L5
    ledger(l4, history.rules["industry"], -15, at(12, 5), cause="rescore")  # taken back whole
    came_from(l3, "api:abc", at(10, 1))  # an earlier first interaction: L3 now came by the API
    newcomer = LeadFactory.create(first_name="L6")
    Lead.objects.filter(pk=newcomer.pk).update(created_at=at(11, 1, 9))
    came_from(newcomer, "form:contact", at(11, 2))
    ledger(newcomer, history.rules["industry"], 15, at(11, 2))
    live = every_variant(live=True)
    assert every_variant() == live
    rules = history.rules
    assert counts({}) == LiftCounts(
        6, 3, {rules["industry"].pk: (3, 2), rules["careers"].pk: (2, 0), rules["demo"].pk: (4, 3)}
    )
    assert counts({"source": "api"}).leads == 2  # L2 and now L3
    # Rebuilt again: the same figures, now from the sums.
    assert rebuilt() > 0
    assert every_variant() == live
    assert rebuilt() == 0


def test_an_erased_lead_leaves_the_figures_as_counted_live(history: History) -> None:
    rebuilt()
    Lead.objects.filter(first_name="L1").delete()
    assert every_variant() == every_variant(live=True)
    assert counts({}).leads == 4
    assert rebuilt() > 0  # its sums go
    assert every_variant() == every_variant(live=True)


def test_the_kept_figures_take_a_fixed_number_of_queries(history: History) -> None:
    rebuilt()
    with CaptureQueriesContext(connection) as few:
        counts({"source": "form"})
    for i in range(5):
        lead = LeadFactory.create()
        came_from(lead, "form:extra", at(11, 2))
        ledger(lead, history.rules["demo"], 30, at(11, 2, 9 + i))
    with CaptureQueriesContext(connection) as more:
        kept = counts({"source": "form"})
    assert len(more.captured_queries) == len(few.captured_queries)
    assert kept == counts({"source": "form"}, live=True)
    assert kept.by_rule[history.rules["demo"].pk] == (7, 2)  # L1, L3 and the five new leads
