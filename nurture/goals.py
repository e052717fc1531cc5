"""Whether a lead leaves a sequence, and whether it may (re)start one. Pure: no ORM.

Services read the lead and the sequence into the dataclasses below and act
on the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scoring.event_types import gettext_noop


class ExitReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    CONVERTED = "converted"
    ROUTED_TO_SALES = "routed_to_sales"
    REACHED_GROUP = "reached_group"
    LEFT_GROUP = "left_group"
    BOUNCED = "bounced"
    PERMANENT_FAILURE = "permanent_failure"
    MANUAL = "manual"
    RESTARTED = "restarted"


EXIT_REASON_LABELS: dict[ExitReason, str] = {
    ExitReason.UNSUBSCRIBED: gettext_noop("unsubscribed"),
    ExitReason.CONVERTED: gettext_noop("converted (became a customer)"),
    ExitReason.ROUTED_TO_SALES: gettext_noop("routed to sales"),
    ExitReason.REACHED_GROUP: gettext_noop("reached the goal score group"),
    ExitReason.LEFT_GROUP: gettext_noop("left the score group"),
    ExitReason.BOUNCED: gettext_noop("bounced"),
    ExitReason.PERMANENT_FAILURE: gettext_noop("permanent failure"),
    ExitReason.MANUAL: gettext_noop("exited by hand"),
    ExitReason.RESTARTED: gettext_noop("restarted (enrolled again)"),
}

# Why a lead may not start a sequence. They stay English where programs read them (the
# API's enrolment answer, logs); a person's summary translates them (nurture.services).
UNSUBSCRIBED = gettext_noop("unsubscribed")
NO_EMAIL = gettext_noop("no email address")
EMAIL_BOUNCED = gettext_noop("email address bounced")
SEQUENCE_INACTIVE = gettext_noop("sequence inactive")
NO_STEPS = gettext_noop("sequence has no steps")
MEETS_EXIT_GOAL = gettext_noop("already meets an exit goal: {goal}")
ENROLLED_ONCE = gettext_noop("already enrolled once (re-enrollment: never)")
ALREADY_ENROLLED = gettext_noop("already enrolled")
NO_LEAD = gettext_noop("lead no longer exists")
SUPPRESSED = gettext_noop("suppressed")

# Lifecycle stages (scoring.models.LifecycleStage values) that mean sales has the lead.
SALES_STAGES = frozenset({"sql", "opportunity"})
CUSTOMER_STAGE = "customer"


class ReenrollPolicy(StrEnum):
    NEVER = "never"  # once per lead, ever
    AFTER_ENDED = "after_ended"  # again once the previous enrollment completed or exited
    ALWAYS = "always"  # again at any time; an enrollment still open restarts from the first step


REENROLL_LABELS: dict[ReenrollPolicy, str] = {
    ReenrollPolicy.NEVER: gettext_noop("never: once per lead"),
    ReenrollPolicy.AFTER_ENDED: gettext_noop("after the previous enrollment ended (completed or exited)"),
    ReenrollPolicy.ALWAYS: gettext_noop("always: an open enrollment restarts from the first step"),
}


@dataclass(frozen=True)
class Goals:
    """A sequence's exit goals. ``reach_min_score``: the goal group's threshold
    (reaching it or any higher group exits); ``leave_group_id``: being out of
    that group exits. Unsubscribing always exits: it is consent, not a goal."""

    reach_group_id: int | None = None
    reach_min_score: int | None = None
    leave_group_id: int | None = None
    on_conversion: bool = False
    on_sales: bool = False


@dataclass(frozen=True)
class LeadFacts:
    unsubscribed: bool = False
    group_id: int | None = None
    group_min_score: int | None = None
    lifecycle_stage: str = "lead"
    has_owner: bool = False


def exit_reason(goals: Goals, lead: LeadFacts) -> ExitReason | None:
    """The first exit goal the lead meets, in this order: unsubscribed,
    converted, routed to sales, reached the goal group, left the group."""
    if lead.unsubscribed:
        return ExitReason.UNSUBSCRIBED
    if goals.on_conversion and lead.lifecycle_stage == CUSTOMER_STAGE:
        return ExitReason.CONVERTED
    if goals.on_sales and (lead.lifecycle_stage in SALES_STAGES or lead.has_owner):
        return ExitReason.ROUTED_TO_SALES
    if goals.reach_group_id is not None and lead.group_id is not None:
        if lead.group_id == goals.reach_group_id:
            return ExitReason.REACHED_GROUP
        if (
            goals.reach_min_score is not None
            and lead.group_min_score is not None
            and lead.group_min_score >= goals.reach_min_score
        ):
            return ExitReason.REACHED_GROUP
    if goals.leave_group_id is not None and lead.group_id != goals.leave_group_id:
        return ExitReason.LEFT_GROUP
    return None


@dataclass(frozen=True)
class History:
    """What the lead already had to do with the sequence, and with email."""

    has_open: bool = False  # an active or paused enrollment in this sequence
    has_ended: bool = False  # a completed or exited one
    address_bounced: bool = False  # a delivery to the lead's address bounced (any sequence)


@dataclass(frozen=True)
class Decision:
    start: bool
    close_open: bool = False  # exit the open enrollment first (reason: restarted)
    refusal: str = ""  # why not, for a person: "unsubscribed", "already enrolled"…


def enrollment_decision(
    *,
    policy: ReenrollPolicy,
    history: History,
    lead: LeadFacts,
    goals: Goals,
    has_email: bool,
    sequence_active: bool,
    has_steps: bool,
) -> Decision:
    """May the lead start the sequence now? Consent and deliverability first, then the policy."""
    if lead.unsubscribed:
        return Decision(False, refusal=UNSUBSCRIBED)
    if not has_email:
        return Decision(False, refusal=NO_EMAIL)
    if history.address_bounced:
        return Decision(False, refusal=EMAIL_BOUNCED)
    if not sequence_active:
        return Decision(False, refusal=SEQUENCE_INACTIVE)
    if not has_steps:
        return Decision(False, refusal=NO_STEPS)
    reason = exit_reason(goals, lead)
    if reason is not None:
        return Decision(False, refusal=MEETS_EXIT_GOAL.format(goal=EXIT_REASON_LABELS[reason]))
    if policy is ReenrollPolicy.NEVER and (history.has_open or history.has_ended):
        return Decision(False, refusal=ENROLLED_ONCE)
    if policy is ReenrollPolicy.AFTER_ENDED and history.has_open:
        return Decision(False, refusal=ALREADY_ENROLLED)
    return Decision(True, close_open=history.has_open)
