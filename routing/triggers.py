"""Which routing rules a lead event fires: pure code, no database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from scoring import rules as pure
from scoring.event_types import gettext_noop


class Trigger(StrEnum):
    ENTERS_GROUP = "enters_group"
    LEAVES_GROUP = "leaves_group"
    SCORE_RISES_TO = "score_rises_to"
    SCORE_FALLS_BELOW = "score_falls_below"
    STAGE_CHANGES = "stage_changes"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"
    PROBABILITY_RISES = "probability_rises"
    PROBABILITY_FALLS = "probability_falls"
    ACCOUNT_ENTERS_GROUP = "account_enters_group"
    ACCOUNT_LEAVES_GROUP = "account_leaves_group"

    @property
    def label(self) -> str:
        """What the trigger watches, in English (marked for the catalogue: the admin's
        choices translate it)."""
        return {
            "enters_group": gettext_noop("enters group"),
            "leaves_group": gettext_noop("leaves group"),
            "score_rises_to": gettext_noop("score rises to N or more"),
            "score_falls_below": gettext_noop("score falls below N"),
            "stage_changes": gettext_noop("lifecycle stage changes"),
            "qualified": gettext_noop("sales qualifies the lead"),
            "disqualified": gettext_noop("sales disqualifies or rejects the lead"),
            "probability_rises": gettext_noop("predicted probability rises to N% or more"),
            "probability_falls": gettext_noop("predicted probability falls below N%"),
            "account_enters_group": gettext_noop("account enters account group (acts on its best lead)"),
            "account_leaves_group": gettext_noop("account leaves account group (acts on its best lead)"),
        }[self.value]


class EventKind(StrEnum):
    """The kinds of outbox rows scoring and sales write (scoring.models.GroupTransition.Kind)."""

    SCORE = "score"
    STAGE = "stage"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"
    PROBABILITY = "probability"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Event:
    """Something that happened to a lead, as routing sees it."""

    kind: EventKind = EventKind.SCORE
    from_group: int | None = None
    to_group: int | None = None
    previous_total: int | None = None
    total: int = 0
    from_stage: str = ""
    to_stage: str = ""
    # Kind probability: the watched percent crossed, and whether upwards. Scoring records a
    # crossing only once the probability is clearly past it (hysteresis), so these fire once.
    watch_percent: int | None = None
    rose: bool = False
    # Kind account: the account groups the lead's account moved between (the event is
    # recorded on the account's best lead).
    from_account_group: int | None = None
    to_account_group: int | None = None
    # Kind score: the scorecard whose score moved (None: the default one). Its groups are its
    # own, so group triggers need nothing more; score thresholds watch the default score.
    scorecard: int | None = None


@dataclass(frozen=True)
class RuleTrigger:
    trigger: Trigger
    group: int | None = None
    threshold: int | None = None
    stage: str = ""
    percent: int | None = None
    account_group: int | None = None
    conditions: tuple[pure.Condition, ...] = field(default=())


def fires(rule: RuleTrigger, event: Event) -> bool:
    """Whether ``event`` is what ``rule`` waits for (each crossing fires again, each time)."""
    t = rule.trigger
    if event.kind is EventKind.SCORE:
        if t is Trigger.ENTERS_GROUP:
            return event.to_group == rule.group and event.from_group != rule.group
        if t is Trigger.LEAVES_GROUP:
            return event.from_group == rule.group and event.to_group != rule.group
        if event.previous_total is None or rule.threshold is None or event.scorecard is not None:
            return False
        if t is Trigger.SCORE_RISES_TO:
            return event.previous_total < rule.threshold <= event.total
        if t is Trigger.SCORE_FALLS_BELOW:
            return event.total < rule.threshold <= event.previous_total
        return False
    if event.kind is EventKind.PROBABILITY:
        if rule.percent is None or event.watch_percent != rule.percent:
            return False
        return (t is Trigger.PROBABILITY_RISES and event.rose) or (t is Trigger.PROBABILITY_FALLS and not event.rose)
    if event.kind is EventKind.ACCOUNT:
        if t is Trigger.ACCOUNT_ENTERS_GROUP:
            return event.to_account_group == rule.account_group and event.from_account_group != rule.account_group
        if t is Trigger.ACCOUNT_LEAVES_GROUP:
            return event.from_account_group == rule.account_group and event.to_account_group != rule.account_group
        return False
    if event.kind is EventKind.STAGE:
        return t is Trigger.STAGE_CHANGES and event.from_stage != event.to_stage and rule.stage in ("", event.to_stage)
    if event.kind is EventKind.QUALIFIED:
        return t is Trigger.QUALIFIED
    if event.kind is EventKind.DISQUALIFIED:
        return t is Trigger.DISQUALIFIED
    return False


def applies(rule: RuleTrigger, event: Event, lead_values: Mapping[str, object]) -> bool:
    """:func:`fires`, and the rule's conditions on the lead's attributes hold."""
    return fires(rule, event) and all(pure.condition_holds(c, lead_values) for c in rule.conditions)


def watched_scores(rules: list[RuleTrigger]) -> set[int]:
    """The totals scoring must report crossings of for these rules."""
    return {
        r.threshold
        for r in rules
        if r.threshold is not None and r.trigger in (Trigger.SCORE_RISES_TO, Trigger.SCORE_FALLS_BELOW)
    }


def watched_probabilities(rules: list[RuleTrigger]) -> set[int]:
    """The probabilities (percent) scoring must report crossings of for these rules."""
    return {
        r.percent
        for r in rules
        if r.percent is not None and r.trigger in (Trigger.PROBABILITY_RISES, Trigger.PROBABILITY_FALLS)
    }
