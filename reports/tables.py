"""Each closed-loop report as it is shown: its title, what its figures mean, the
filters it takes, and its rows written out as text. The page and the CSV both show
this very table, so they agree cell for cell; the chart draws from the same rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, gettext_noop, pgettext

from reports import figures, queries
from reports.figures import NONE, percent
from reports.filters import ATTRIBUTIONS, Filters
from routing.models import Outcome
from scoring import localized
from scoring.figure import count, signed
from scoring.models import ScoreGroup
from scoring.models.design import DIMENSION_CHOICES

CONVERTED = gettext_noop("Converted: the lead has a won outcome (sales marked it won), at any time.")
ON_SCORECARD = gettext_noop(
    "Scorecard: the scores and score groups are those of the scorecard chosen, read back from its own ledger "
    "and placed by its groups; without one, the lead's default score."
)
DIMENSIONS = dict(DIMENSION_CHOICES)


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    first_text_columns: int = 1  # the columns before the figures (aligned left)


@dataclass
class Shown:
    table: Table
    chart: dict[str, Any] | None = None  # for reports.js (Chart.js)
    grid: dict[str, Any] | None = None  # the heat-coloured grid of fit by engagement


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    question: str
    notes: tuple[str, ...]
    filters: tuple[str, ...]
    show: Callable[[Filters], Shown]
    dates: str = field(default="")  # what the date range selects

    def notes_shown(self) -> list[str]:
        """The notes in the reader's language, with the figures they quote."""
        values = {
            "fit_bands": _bands(figures.FIT_BANDS),
            "engagement_bands": _bands(figures.ENGAGEMENT_BANDS),
            "times": figures.TIMES,
            "none": NONE,
            "not_defined": gettext(NOT_DEFINED),
        }
        return [gettext(note).format(**values) for note in self.notes]


def _group_name(row: queries.GroupRow) -> str:
    return row.group.name if row.group else gettext("No group")


def _group_range(group: ScoreGroup | None, filters: Filters) -> str:
    """The totals a group holds, by the groups' minimums: "20-39" (en dash), "80 or more", "below 20"."""
    minimums = [g.min_score for g in filters.groups]
    if group is None:
        return gettext("below {score}").format(score=minimums[0]) if minimums else gettext("any")
    above = [m for m in minimums if m > group.min_score]
    if above:
        return f"{group.min_score}{figures.EN_DASH}{above[0] - 1}"
    return gettext("{score} or more").format(score=group.min_score)


def _bands_described(bands: tuple[figures.Band, ...]) -> list[tuple[str, str]]:
    """Each band's range in the reader's words: ("B", "10-14"), ("D", "below 5")."""
    words = figures.BandWords(below=gettext("below {score}"), or_more=gettext("{score} or more"), any=gettext("any"))
    return figures.bands_described(bands, words)


def show_by_group(filters: Filters) -> Shown:
    rows = queries.conversion_by_group(filters)
    table = Table(
        [
            gettext("Score group"),
            gettext("Total score"),
            gettext("Leads handed to sales"),
            gettext("Converted"),
            gettext("Conversion rate"),
        ],
        [
            [
                _group_name(row),
                _group_range(row.group, filters),
                count(row.leads),
                count(row.converted),
                percent(row.converted, row.leads),
            ]
            for row in rows
        ],
        first_text_columns=2,
    )
    chart = {
        "type": "bar",
        "labels": [_group_name(row) for row in rows],
        "datasets": [
            {
                "label": gettext("Conversion rate (%)"),
                "data": [_percent_value(row.converted, row.leads) for row in rows],
            }
        ],
        "percent": True,
    }
    return Shown(table, chart=chart)


def _percent_value(part: int, whole: int) -> float | None:
    value = figures.rate(part, whole)
    return None if value is None else round(100 * value, 1)


def show_grid(filters: Filters) -> Shown:
    cells = queries.conversion_grid(filters)
    fit_ranges = dict(_bands_described(figures.FIT_BANDS))
    engagement_ranges = dict(_bands_described(figures.ENGAGEMENT_BANDS))
    table = Table(
        [
            gettext("Fit"),
            gettext("Fit score"),
            gettext("Engagement"),
            gettext("Engagement score"),
            gettext("Leads"),
            gettext("Converted"),
            gettext("Conversion rate"),
        ],
        [
            [
                c.fit.name,
                fit_ranges[c.fit.name],
                c.engagement.name,
                engagement_ranges[c.engagement.name],
                count(c.leads),
                count(c.converted),
                percent(c.converted, c.leads),
            ]
            for c in cells
        ],
        first_text_columns=4,
    )
    top = max((figures.rate(c.converted, c.leads) or 0 for c in cells), default=0)
    grid = {
        "columns": [{"band": name, "range": span} for name, span in _bands_described(figures.ENGAGEMENT_BANDS)],
        "rows": [
            {
                "band": band.name,
                "range": fit_ranges[band.name],
                "cells": [
                    {
                        "label": f"{c.fit.name}{c.engagement.name}",
                        "rate": percent(c.converted, c.leads),
                        "count": gettext("{converted} of {leads}").format(
                            converted=localized.number(c.converted), leads=localized.number(c.leads)
                        ),
                        "heat": figures.heat(figures.rate(c.converted, c.leads), top),
                    }
                    for c in cells
                    if c.fit.name == band.name
                ],
            }
            for band in figures.FIT_BANDS
        ],
    }
    return Shown(table, grid=grid)


def show_rule_lift(filters: Filters) -> Shown:
    rows = queries.rule_lift(filters)
    table = Table(
        [
            gettext("Rule"),
            gettext("Dimension"),
            gettext("Points"),
            pgettext("rule", "Active"),
            gettext("Leads scored"),
            gettext("Converted (scored)"),
            gettext("Conversion (scored)"),
            gettext("Leads not scored"),
            gettext("Converted (not scored)"),
            gettext("Conversion (not scored)"),
            gettext("Lift"),
        ],
        [
            [
                row.rule.name,
                str(DIMENSIONS.get(row.rule.dimension, row.rule.dimension)),
                signed(row.rule.points),
                gettext("yes") if row.rule.active else gettext("no"),
                count(row.scored),
                count(row.scored_converted),
                percent(row.scored_converted, row.scored),
                count(row.others),
                count(row.others_converted),
                percent(row.others_converted, row.others),
                figures.times(row.lift),
            ]
            for row in rows
        ],
        first_text_columns=4,
    )
    with_lift = [row for row in rows if row.lift is not None]
    chart = {
        "type": "bar",
        "labels": [row.rule.name for row in with_lift],
        "datasets": [
            {
                "label": gettext("Lift ({times} the conversion of leads it did not score)").format(times=figures.TIMES),
                "data": [round(row.lift or 0, 2) for row in with_lift],
            }
        ],
        "horizontal": True,
    }
    return Shown(table, chart=chart if with_lift else None)


def _hours(seconds: float | None) -> str:
    return figures.hours(seconds)


def show_speed(filters: Filters) -> Shown:
    rows = queries.speed_to_lead(filters)
    table = Table(
        [
            gettext("Team"),
            gettext("Rep"),
            gettext("Hand-offs"),
            gettext("Claimed"),
            gettext("Median routed → claimed (h)"),
            gettext("Accepted"),
            gettext("Median claimed → accepted (h)"),
            gettext("Median routed → accepted (h)"),
            gettext("SLA breaches"),
            gettext("Escalated"),
        ],
        [
            [
                row.team,
                row.rep or gettext("All reps"),
                count(row.handoffs),
                count(row.claimed),
                _hours(row.to_claim),
                count(row.accepted),
                _hours(row.claim_to_accept),
                _hours(row.to_accept),
                count(row.breaches),
                count(row.escalated),
            ]
            for row in rows
        ],
        first_text_columns=2,
    )
    teams = [row for row in rows if not row.rep]
    chart = {
        "type": "bar",
        "labels": [row.team for row in teams],
        "datasets": [
            {"label": gettext("Median routed → claimed (h)"), "data": [_hours_value(row.to_claim) for row in teams]},
            {"label": gettext("Median routed → accepted (h)"), "data": [_hours_value(row.to_accept) for row in teams]},
        ],
    }
    return Shown(table, chart=chart if teams else None)


def _hours_value(seconds: float | None) -> float | None:
    text = figures.hours(seconds)
    return None if text == NONE else float(text)


def show_reasons(filters: Filters) -> Shown:
    rows = queries.sales_reasons(filters)
    labels = dict(Outcome.Kind.choices)
    table = Table(
        [gettext("Outcome"), gettext("Reason"), gettext("Leads"), gettext("Share of the outcome")],
        [
            [
                str(labels.get(row.kind, row.kind)),
                row.reason or gettext("(no reason given)"),
                count(row.count),
                percent(row.count, row.of_kind),
            ]
            for row in rows
        ],
        first_text_columns=2,
    )
    return Shown(table)


def show_nurture(filters: Filters) -> Shown:
    rows = queries.nurture_steps(filters)
    table = Table(
        [
            gettext("Sequence"),
            gettext("Step"),
            gettext("Subject"),
            gettext("Sent"),
            gettext("Opened"),
            gettext("Open rate"),
            gettext("Clicked"),
            gettext("Click rate"),
            gettext("Unsubscribed"),
            gettext("Bounced"),
            gettext("Converted afterwards"),
        ],
        [
            [
                row.sequence,
                gettext("All steps") if row.step is None else str(row.step),
                row.subject,
                count(row.sent),
                count(row.opened),
                percent(row.opened, row.sent),
                count(row.clicked),
                percent(row.clicked, row.sent),
                count(row.unsubscribed),
                count(row.bounced),
                count(row.converted),
            ]
            for row in rows
        ],
        first_text_columns=3,
    )
    return Shown(table)


def show_feedback(filters: Filters) -> Shown:
    rows = queries.feedback_by_month(filters)
    table = Table(
        [
            gettext("Month"),
            gettext("Handed to sales"),
            gettext("Accepted"),
            gettext("Accepted %"),
            gettext("Qualified"),
            gettext("Qualified %"),
            gettext("Won"),
            gettext("Won %"),
            gettext("Rejected or disqualified"),
        ],
        [
            [
                f"{row.month:%Y-%m}",
                count(row.handoffs),
                count(row.accepted),
                percent(row.accepted, row.handoffs),
                count(row.qualified),
                percent(row.qualified, row.handoffs),
                count(row.won),
                percent(row.won, row.handoffs),
                count(row.turned_down),
            ]
            for row in rows
        ],
    )
    chart = {
        "type": "bar",
        "labels": [f"{row.month:%Y-%m}" for row in rows],
        "datasets": [
            {"label": gettext("Handed to sales"), "data": [row.handoffs for row in rows]},
            {"label": gettext("Accepted"), "data": [row.accepted for row in rows]},
            {"label": gettext("Qualified"), "data": [row.qualified for row in rows]},
            {"label": gettext("Won"), "data": [row.won for row in rows]},
        ],
    }
    return Shown(table, chart=chart if rows else None)


NOT_DEFINED = gettext_noop("not defined")


def show_campaigns(filters: Filters) -> Shown:
    rows = queries.campaign_returns(filters)
    touch = gettext(ATTRIBUTIONS[filters.attribution])
    table = Table(
        [
            gettext("Campaign"),
            gettext("Name"),
            gettext("Channel"),
            gettext("Leads (first touch)"),
            gettext("Leads (last touch)"),
            gettext("MQLs ({touch})").format(touch=touch),
            gettext("SQLs ({touch})").format(touch=touch),
            gettext("Won ({touch})").format(touch=touch),
            gettext("Revenue ({touch})").format(touch=touch),
            gettext("Cost"),
            gettext("Cost per MQL"),
            gettext("Return on cost"),
        ],
        [
            [
                row.key,
                row.campaign.name if row.campaign else gettext(NOT_DEFINED),
                row.campaign.channel if row.campaign else "",
                count(row.first_touch_leads),
                count(row.last_touch_leads),
                count(row.attributed.mqls),
                count(row.attributed.sqls),
                count(row.attributed.won),
                figures.money(row.attributed.revenue),
                figures.money(row.campaign.cost if row.campaign else None),
                figures.money_per(row.campaign.cost if row.campaign else None, row.attributed.mqls),
                figures.percent_of(
                    figures.return_on_cost(row.attributed.revenue, row.campaign.cost if row.campaign else None)
                ),
            ]
            for row in rows
        ],
        first_text_columns=3,
    )
    defined = [row for row in rows if row.campaign is not None]
    chart = {
        "type": "bar",
        "labels": [row.campaign.name for row in defined if row.campaign],
        "datasets": [
            {
                "label": gettext("Revenue ({touch})").format(touch=touch),
                "data": [float(row.attributed.revenue) for row in defined],
            },
            {
                "label": gettext("Cost"),
                "data": [
                    float(row.campaign.cost) if row.campaign and row.campaign.cost is not None else None
                    for row in defined
                ],
            },
        ],
    }
    return Shown(table, chart=chart if defined else None)


def show_deadlines(filters: Filters) -> Shown:
    rows = queries.feedback_deadlines(filters)
    table = Table(
        [
            gettext("Team"),
            gettext("Rep"),
            gettext("Deadline (days)"),
            gettext("Hand-offs"),
            gettext("Answered in time"),
            gettext("Answered late"),
            gettext("Overdue now"),
            gettext("Within the deadline"),
            gettext("Answered in time %"),
            gettext("Most days overdue"),
        ],
        [
            [
                row.team,
                row.rep or gettext("All reps"),
                count(row.days),
                count(row.handoffs),
                count(row.in_time),
                count(row.late),
                count(row.overdue),
                count(row.waiting),
                percent(row.in_time, row.in_time + row.late + row.overdue),
                count(row.most_overdue) if row.overdue else NONE,
            ]
            for row in rows
        ],
        first_text_columns=2,
    )
    teams = [row for row in rows if not row.rep]
    chart = {
        "type": "bar",
        "labels": [row.team for row in teams],
        "datasets": [
            {"label": gettext("Answered in time"), "data": [row.in_time for row in teams]},
            {"label": gettext("Answered late"), "data": [row.late for row in teams]},
            {"label": gettext("Overdue now"), "data": [row.overdue for row in teams]},
        ],
    }
    return Shown(table, chart=chart if teams else None)


def _bands(bands: tuple[figures.Band, ...]) -> str:
    return ", ".join(f"{name} {span}" for name, span in _bands_described(bands))


REPORTS: tuple[Report, ...] = (
    Report(
        "conversion-by-group",
        gettext_noop("Conversion by score group"),
        gettext_noop("Do leads in higher score groups buy more often?"),
        (
            gettext_noop(
                "Each lead counts once, in the score group its total score was in when it was first handed to "
                "sales (entered a sales queue): the score it had then, read back from the score ledger, placed "
                "by the groups' minimum scores as they are now."
            ),
            ON_SCORECARD,
            CONVERTED,
        ),
        ("start", "end", "source", "team", "scorecard"),
        show_by_group,
        dates=gettext_noop("the lead's first hand-off to sales"),
    ),
    Report(
        "fit-engagement",
        gettext_noop("Conversion by fit and engagement"),
        gettext_noop("Which mix of fit (who the lead is) and engagement (what it did) buys?"),
        (
            gettext_noop(
                "Each lead counts once, by its fit and engagement scores when it was first handed to sales "
                "(read back from the score ledger)."
            ),
            gettext_noop(
                "Fit bands: {fit_bands} points. Engagement bands: {engagement_bands} points. A1 is the best cell."
            ),
            gettext_noop("The colour of a cell grows with its conversion rate, relative to the best cell shown."),
            ON_SCORECARD,
            CONVERTED,
        ),
        ("start", "end", "source", "team", "scorecard", "group"),
        show_grid,
        dates=gettext_noop("the lead's first hand-off to sales"),
    ),
    Report(
        "rule-lift",
        gettext_noop("Rule lift"),
        gettext_noop("Which scoring rules earn their points?"),
        (
            gettext_noop(
                "Leads: those created in the date range. A rule scored a lead when its rows in the score ledger "
                "for that lead add up to more or less than zero (an award a rescore took back whole does not count)."
            ),
            gettext_noop(
                "Lift: the conversion rate of the leads the rule scored divided by that of the leads it did not. "
                "Above {times}1.00 the rule picks buyers; below, its points go to leads that buy less. "
                "{none}: nothing to compare with (no leads on one side, or none of the others converted)."
            ),
            CONVERTED,
        ),
        ("start", "end", "source"),
        show_rule_lift,
        dates=gettext_noop("the lead's creation"),
    ),
    Report(
        "speed-to-lead",
        gettext_noop("Speed to lead"),
        gettext_noop("How fast does sales pick up the leads marketing hands over?"),
        (
            gettext_noop(
                "One row per team (All reps), then one per rep: the hand-offs assigned to or claimed by them."
            ),
            gettext_noop(
                "Routed: the lead entered the sales queue. Claimed: a rep claimed it (accepting without "
                "claiming counts as claiming then). Accepted: the first time a rep accepted it. Times are "
                "medians, in hours."
            ),
            gettext_noop(
                "SLA breaches: hand-offs claimed (or closed) later than the team's SLA, or still waiting past it. "
                "Escalated: hand-offs the SLA task escalated."
            ),
        ),
        ("start", "end", "source", "team"),
        show_speed,
        dates=gettext_noop("entering the sales queue"),
    ),
    Report(
        "rejection-reasons",
        gettext_noop("Rejection and disqualification reasons"),
        gettext_noop("Why does sales turn leads down?"),
        (
            gettext_noop(
                "Every rejection (not ready for sales) and disqualification (BANT) with the reason the rep gave, "
                "most frequent first; the share is of all rejections, or all disqualifications, shown."
            ),
        ),
        ("start", "end", "source", "team"),
        show_reasons,
        dates=gettext_noop("the rejection or disqualification"),
    ),
    Report(
        "nurture",
        gettext_noop("Nurture sequences and steps"),
        gettext_noop("Which sequences and steps move leads?"),
        (
            gettext_noop(
                "Per sequence (All steps), then per step. Sent: handed to the mail server. Opened and clicked: "
                "sent messages opened or clicked at least once (rates are of those sent). Unsubscribed: the "
                "lead unsubscribed while this was the last step it got. Bounced: refused by the mail server."
            ),
            gettext_noop(
                "Converted afterwards: the lead has a won outcome dated after the step was sent to it; a "
                "sequence counts each such lead once."
            ),
        ),
        ("start", "end", "source", "sequence"),
        show_nurture,
        dates=gettext_noop("the step going out"),
    ),
    Report(
        "feedback-loop",
        gettext_noop("The feedback loop"),
        gettext_noop("Of the leads passed to sales, how many progressed?"),
        (
            gettext_noop(
                "Hand-offs to sales by the month they entered the queue. Accepted counts those sales accepted, "
                "qualified or won (qualifying and winning imply accepting); Qualified those qualified or won; "
                "Won those won. Percentages are of the hand-offs of the month."
            ),
            gettext_noop("The score group filter uses the group the lead's score was in at the hand-off."),
            gettext_noop(
                "Scorecard: the score group filter uses that scorecard's groups and the lead's score on it at "
                "the hand-off, read back from the scorecard's own ledger; the scorecard alone filters nothing."
            ),
        ),
        ("start", "end", "source", "team", "scorecard", "group"),
        show_feedback,
        dates=gettext_noop("entering the sales queue"),
    ),
    Report(
        "campaigns",
        gettext_noop("Campaigns and what they return"),
        gettext_noop("Do marketing's campaigns bring leads that buy, and do they earn back what they cost?"),
        (
            gettext_noop(
                "A lead's campaign touches are its interactions with a campaign property (nurture's opens and "
                "clicks carry their step's campaign; other senders set it). Its first touch is the one that "
                "happened first, its last touch the one that happened last (by when they happened, not when they "
                "arrived). Each lead counts once in each of the two Leads columns."
            ),
            gettext_noop(
                "MQLs, SQLs, Won and Revenue go to the touch chosen as Attribution (first touch unless chosen "
                "otherwise): MQLs and SQLs are those leads that ever reached that stage or a later one (the stage "
                "history, or their stage now); Won those with a won outcome; Revenue adds up the amounts of their "
                "won outcomes."
            ),
            gettext_noop(
                "Cost is the campaign's whole cost, whatever the dates. Cost per MQL: cost / MQLs. Return on cost: "
                "(revenue - cost) / cost. {none}: no cost given (or none spent), or no MQLs."
            ),
            gettext_noop(
                'A key interactions carry that no campaign defines is listed as "{not_defined}": define it '
                "(admin: Campaigns, or the model file's campaigns) to give it a name and a cost."
            ),
        ),
        ("start", "end", "source", "attribution"),
        show_campaigns,
        dates=gettext_noop("the touch (the first touch for its column, the last touch for its own)"),
    ),
    Report(
        "feedback-deadlines",
        gettext_noop("Sales feedback deadlines"),
        gettext_noop("Does sales say what became of the leads marketing hands over, in the days it promised?"),
        (
            gettext_noop(
                "Each team may promise feedback within a number of days of a hand-off (Deadline, set on the team "
                "in the admin); only teams with one are shown, and every hand-off is judged by the team's "
                "deadline as it is now. One row per team (All reps), then one per rep: the hand-offs they own "
                "(Not assigned: nobody owns it)."
            ),
            gettext_noop(
                "Feedback: the first outcome recorded on the hand-off other than claimed, released and escalated, "
                "that is accepted, rejected, qualified, disqualified, opportunity created, won or lost, whether a "
                "rep gave it on the sales page or a CRM reported it."
            ),
            gettext_noop(
                "Answered in time: the first feedback came by the deadline (the hand-off plus the days). "
                "Answered late: after it. Overdue now: no feedback yet and the deadline is past; the sales "
                "page marks these. Within the deadline: no feedback yet, the deadline not past. The share "
                "answered in time is of the hand-offs whose deadline was met, missed or is past."
            ),
            gettext_noop(
                "Most days overdue: of the hand-offs overdue now, the longest, counting every day begun past the "
                "deadline."
            ),
        ),
        ("start", "end", "source", "team"),
        show_deadlines,
        dates=gettext_noop("entering the sales queue"),
    ),
)

BY_SLUG = {report.slug: report for report in REPORTS}
