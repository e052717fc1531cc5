"""Whether a scoring model can give a lead a score past the database's score columns
(integers): pure, no database. A lead's fit on a scorecard is the sum of the points of
every fit rule whose conditions hold, so the column must hold the sum of all their
positive points, and of all their negative ones.

Engagement is not bounded here: each interaction a rule scores adds its points again
(a cap with a window starts afresh in the next window), so only the number of a lead's
interactions bounds it. A score that passes its column at run time is refused by the
database, and what met it is undone (a rescore job sets that lead aside with the error).

An account's fit is held alike: its column must hold the sum of the account fit rules'
points each way (its roll-up of its leads' scores is kept within what the fit leaves).
"""

from __future__ import annotations

from collections.abc import Iterable

from scoring import model_file
from scoring import rules as pure
from scoring.event_types import gettext_noop
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN

_ABOVE = gettext_noop(
    "{place}: its active fit rules together may give a lead up to {total} points, past the {limit} "
    "a score can hold; lower their points"
)
_BELOW = gettext_noop(
    "{place}: its active fit rules together may take a lead down to {total} points, past the {limit} "
    "a score can hold; lower their negative points"
)
_ACCOUNTS_ABOVE = gettext_noop(
    "{place}: its active account fit rules together may give an account up to {total} points, past the "
    "{limit} an account's fit can hold; lower their points"
)
_ACCOUNTS_BELOW = gettext_noop(
    "{place}: its active account fit rules together may take an account down to {total} points, past the "
    "{limit} an account's fit can hold; lower their negative points"
)


def fit_past_column(points: Iterable[int]) -> tuple[int | None, int | None]:
    """Where the active fit rules of one score, worth ``points``, may together take it past
    its column: the highest they may give (the sum of their positive points) when above
    it, the lowest (of their negative ones) when below it, None for a way they stay
    within. The one check of a model file's rules and of the admin's, a lead's or an
    account's."""
    points = list(points)
    highest, lowest = sum(p for p in points if p > 0), sum(p for p in points if p < 0)
    return (highest if highest > WHOLE_MAX else None), (lowest if lowest < WHOLE_MIN else None)


def fit_past_columns(spec: model_file.ModelSpec, *, words: pure.Words = pure.ENGLISH) -> list[str]:
    """The default score (``rules``) and each scorecard (``scorecards[n] (its name)``)
    whose active fit rules may together pass the score column, one problem each way."""
    parts: list[tuple[str, Iterable[model_file.RuleSpec]]] = [("rules", spec.rules)]
    parts += [(f"scorecards[{n}] ({card.name})", card.rules) for n, card in enumerate(spec.scorecards)]
    problems: list[str] = []
    for place, rules in parts:
        above, below = fit_past_column(r.points for r in rules if r.active and r.dimension == pure.Dimension.FIT.value)
        if above is not None:
            problems.append(words.phrase(_ABOVE).format(place=place, total=above, limit=WHOLE_MAX))
        if below is not None:
            problems.append(words.phrase(_BELOW).format(place=place, total=below, limit=WHOLE_MIN))
    return problems


def account_fit_past_column(spec: model_file.ModelSpec, *, words: pure.Words = pure.ENGLISH) -> list[str]:
    """The file's account fit rules (``accounts.rules``), when their active ones may together
    pass the account fit column, one problem each way."""
    if spec.accounts is None:
        return []
    above, below = fit_past_column(r.points for r in spec.accounts.rules if r.active)
    problems: list[str] = []
    if above is not None:
        problems.append(words.phrase(_ACCOUNTS_ABOVE).format(place="accounts.rules", total=above, limit=WHOLE_MAX))
    if below is not None:
        problems.append(words.phrase(_ACCOUNTS_BELOW).format(place="accounts.rules", total=below, limit=WHOLE_MIN))
    return problems
