"""What the closed-loop reports compute, as plain functions over the filters that return
rows: the HTML pages and the CSV export both call them, so they show the same rows.
Each runs a fixed number of queries, whatever the number of leads.

"Converted" means the lead has a *won* outcome (:class:`routing.models.Outcome`)."""

from reports.queries.campaigns import CampaignRow, Touches, campaign_returns
from reports.queries.conversion import (
    GridCell,
    GroupRow,
    RuleLiftRow,
    conversion_by_group,
    conversion_grid,
    rule_lift,
)
from reports.queries.nurture import StepRow, nurture_steps
from reports.queries.sales import (
    NOT_ASSIGNED,
    DeadlineRow,
    MonthRow,
    ReasonRow,
    SpeedRow,
    feedback_by_month,
    feedback_deadlines,
    sales_reasons,
    speed_to_lead,
)

__all__ = [
    "NOT_ASSIGNED",
    "CampaignRow",
    "DeadlineRow",
    "GridCell",
    "GroupRow",
    "MonthRow",
    "ReasonRow",
    "RuleLiftRow",
    "SpeedRow",
    "StepRow",
    "Touches",
    "campaign_returns",
    "conversion_by_group",
    "conversion_grid",
    "feedback_by_month",
    "feedback_deadlines",
    "nurture_steps",
    "rule_lift",
    "sales_reasons",
    "speed_to_lead",
]
