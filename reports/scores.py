"""The overview's leads by score group, fit score and engagement score (its groups now and
both histograms).

Counted live, that was a pass over every lead on each request. The origins' rebuild keeps
each lead's group and scores beside its origin and their counts
(:class:`~reports.models.ScoreCount`); a request reads those, takes out the kept values of
the leads scored or moved between groups since the rebuild (a ledger row or a group
transition past its mark, or created since) and adds those leads back as they are now:
the same counts, in a fixed number of queries. A lead's scores change only with a ledger
row, and its group only with a transition, but for a group deleted (its leads left in
none): a kept group that no longer exists, or a lead erased since the rebuild, and the
counts are read live until the next one.
"""

from __future__ import annotations

from django.db.models import Count

from reports import origins
from reports.models import LeadOrigin, ScoreCount
from scoring.models import Lead, LeadScore, ScoreGroup

# Leads by (score group, fit score, engagement score): a few thousand rows.
ScoreCounts = list[tuple[int | None, int, int, int]]


def score_counts_live() -> ScoreCounts:
    """One pass over the leads."""
    return list(
        Lead.objects.order_by()
        .values("score_group", "fit_score", "engagement_score")
        .annotate(n=Count("id"))
        .values_list("score_group", "fit_score", "engagement_score", "n")
    )


def scorecard_counts(*, scorecard_id: int) -> ScoreCounts:
    """A scorecard's, read live from its scores (two queries): the roll-ups keep the default
    scorecard's only. A lead with no score on the scorecard yet has 0 and 0 there, in no group."""
    rows = (
        LeadScore.objects.filter(scorecard_id=scorecard_id)
        .order_by()
        .values("score_group", "fit_score", "engagement_score")
        .annotate(n=Count("id"))
        .values_list("score_group", "fit_score", "engagement_score", "n")
    )
    sums: dict[tuple[int | None, int, int], int] = {(group, fit, engagement): n for group, fit, engagement, n in rows}
    unscored = Lead.objects.count() - sum(sums.values())
    if unscored > 0:
        sums[(None, 0, 0)] = sums.get((None, 0, 0), 0) + unscored
    return sorted(
        ((group, fit, engagement, n) for (group, fit, engagement), n in sums.items()),
        key=lambda row: (row[0] is None, row[0] or 0, row[1], row[2]),
    )


def score_counts() -> ScoreCounts:
    """From the kept counts and the leads changed since (see the module)."""
    mark = origins.mark_read()
    if not origins.sums_usable(mark):
        return score_counts_live()
    sums: origins.ScoreSums = {
        (group, fit, engagement): n
        for group, fit, engagement, n in ScoreCount.objects.values_list(
            "group_id", "fit_score", "engagement_score", "leads"
        )
    }
    groups = set(ScoreGroup.objects.values_list("pk", flat=True))
    if any(group is not None and group not in groups for group, _, _ in sums):
        return score_counts_live()
    for key in LeadOrigin.objects.filter(origins.fresh_leads(mark, field="lead_id", scores=True)).values_list(
        *origins.SCORE_FIELDS
    ):
        origins.score_counted(sums, key, sign=-1)
    for key in Lead.objects.filter(origins.fresh_leads(mark, scores=True)).values_list(
        "score_group_id", "fit_score", "engagement_score"
    ):
        origins.score_counted(sums, key)
    return sorted(
        ((group, fit, engagement, n) for (group, fit, engagement), n in sums.items() if n),
        key=lambda row: (row[0] is None, row[0] or 0, row[1], row[2]),
    )
