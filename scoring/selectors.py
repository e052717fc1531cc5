from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Sum
from django.utils.translation import gettext, gettext_lazy

from scoring import event_types, sentences
from scoring import rules as pure
from scoring.models import (
    Account,
    AccountEntry,
    AccountSettings,
    AccountTransition,
    Campaign,
    EventType,
    Interaction,
    Lead,
    LeadScore,
    RuleCondition,
    Scorecard,
    ScoreEntry,
    ScoreGroup,
    ScoreWatch,
    ScoringRule,
    SegmentEvent,
    SetAside,
    WaitingInteraction,
)


def interactions_scored() -> QuerySet[Interaction]:
    """The interactions a worker has scored: a lead's, not set aside, and no longer waiting
    (:class:`~scoring.models.WaitingInteraction`)."""
    waiting = WaitingInteraction.objects.filter(pk=OuterRef("pk"))
    return Interaction.objects.filter(lead__isnull=False, set_aside=False).exclude(Exists(waiting))


def rules_pure(*, dimension: pure.Dimension | None = None, ids: list[int] | None = None) -> list[pure.Rule]:
    """Rules as plain data (two queries whatever their number)."""
    queryset = ScoringRule.objects.prefetch_related(
        Prefetch("conditions", queryset=RuleCondition.objects.order_by("position", "id"))
    )
    if dimension is not None:
        queryset = queryset.filter(dimension=dimension.value)
    if ids is not None:
        queryset = queryset.filter(id__in=ids)
    return [rule.as_pure(list(rule.conditions.all())) for rule in queryset]


def score_watches() -> list[int]:
    return list(ScoreWatch.objects.values_list("value", flat=True))


def group_thresholds() -> list[pure.Band]:
    return [pure.Band(*row) for row in ScoreGroup.objects.values_list("id", "min_score", "leave_below")]


def group_thresholds_by_scorecard() -> dict[int, list[pure.Band]]:
    """The score groups of every scorecard other than the default one, by scorecard id; one query."""
    bands: dict[int, list[pure.Band]] = defaultdict(list)
    rows = ScoreGroup.every_scorecard.filter(scorecard__isnull=False).values_list(
        "scorecard_id", "id", "min_score", "leave_below"
    )
    for card_id, pk, min_score, leave_below in rows:
        bands[card_id].append(pure.Band(pk, min_score, leave_below))
    return dict(bands)


def scorecard_rules_pure(*, dimension: pure.Dimension | None = None) -> tuple[list[pure.Rule], dict[int, int]]:
    """The rules of the active scorecards other than the default one as plain data, and each
    rule's scorecard id (rule ids are unique across scorecards); two queries."""
    queryset = ScoringRule.every_scorecard.filter(scorecard__active=True).prefetch_related(
        Prefetch("conditions", queryset=RuleCondition.objects.order_by("position", "id"))
    )
    if dimension is not None:
        queryset = queryset.filter(dimension=dimension.value)
    rules = list(queryset)
    return [rule.as_pure(list(rule.conditions.all())) for rule in rules], {
        rule.pk: rule.scorecard_id for rule in rules if rule.scorecard_id is not None
    }


@dataclass(frozen=True)
class ScorecardScore:
    """A lead's score on one scorecard other than the default one."""

    key: str
    name: str
    active: bool
    fit: int
    engagement: int
    group: str  # the group's name, or "" when in none
    group_key: str = ""  # the group's key, or "" when in none

    @property
    def total(self) -> int:
        return self.fit + self.engagement


def lead_scorecard_scores(*, lead_id: int) -> list[ScorecardScore]:
    """The lead's score on every live scorecard (0 where nothing scored it yet), the active
    ones first, then those retired where the lead has a score; two queries."""
    scores = {
        row.scorecard_id: row
        for row in LeadScore.objects.filter(lead_id=lead_id)
        .select_related("score_group")
        .only("scorecard_id", "fit_score", "engagement_score", "score_group__key", "score_group__name")
    }
    lines = []
    for card in Scorecard.objects.order_by("-active", "name", "key"):
        row = scores.get(card.pk)
        if row is None and not card.active:
            continue
        lines.append(
            ScorecardScore(
                card.key,
                card.name,
                card.active,
                row.fit_score if row else 0,
                row.engagement_score if row else 0,
                row.score_group.name if row and row.score_group else "",
                row.score_group.key if row and row.score_group else "",
            )
        )
    return lines


@dataclass(frozen=True)
class BreakdownLine:
    """What one cause (a rule, manual edits, decay…) adds to a lead's score."""

    label: str
    sentence: str
    dimension: str  # the key ("fit", "engagement"), as the API gives it
    points: int
    times: int

    @property
    def dimension_label(self) -> str:
        """The dimension in the reader's language (Perfil, Interacción), for pages."""
        return str(dict(ScoreEntry._meta.get_field("dimension").choices or ()).get(self.dimension, self.dimension))


def leads_rule_values(*, lead_ids: Iterable[int]) -> dict[int, dict[str, object]]:
    """What conditions on lead fields read of each lead (its fields, email domain and
    ``attributes.<name>``), by lead id; one query."""
    leads = Lead.objects.filter(pk__in=list(lead_ids)).only(*Lead.FIT_FIELDS, "attributes")
    return {lead.pk: lead.rule_values() for lead in leads}


@dataclass(frozen=True)
class LedgerSum:
    """A lead's points from one rule (``rule_id``, its ``rule_name``) or, for rows of no
    rule, one ``cause`` (manual, decay, opening balance…), and how many times."""

    lead_id: int
    rule_id: int | None
    rule_name: str | None
    dimension: str
    cause: str | None
    points: int
    times: int


def ledger_sums(*, lead_ids: Sequence[int]) -> list[LedgerSum]:
    """The leads' ledgers summed by rule, and by cause for rows of no rule, in one
    statement (one pass over their rows). A rule's rows for one interaction (its award, the revisions late
    interactions made to it, the rescores that changed it) are netted first, so its times
    are the interactions (for a fit rule, the award) it still gives points for: an award a
    rescore took back does not count. The database nets them: a lead may have a hundred
    thousand interactions."""
    if not lead_ids:
        return []
    ledger = connection.ops.quote_name(ScoreEntry._meta.db_table)
    rules = connection.ops.quote_name(ScoringRule._meta.db_table)
    marks = ", ".join(["%s"] * len(lead_ids))
    # One pass over the leads' rows: a rule's netted by interaction, the others by cause.
    sql = f"""
        SELECT n.lead_id, n.rule_id, r.name, n.dimension, n.cause, SUM(n.net),
               SUM(CASE WHEN n.rule_id IS NULL THEN n.rows WHEN n.net <> 0 THEN 1 ELSE 0 END)
        FROM (SELECT lead_id, rule_id, dimension,
                     CASE WHEN rule_id IS NULL THEN cause END AS cause,
                     CASE WHEN rule_id IS NOT NULL THEN interaction_id END AS interaction,
                     SUM(delta) AS net, COUNT(*) AS rows
              FROM {ledger} WHERE lead_id IN ({marks})
              GROUP BY lead_id, rule_id, dimension,
                       CASE WHEN rule_id IS NULL THEN cause END,
                       CASE WHEN rule_id IS NOT NULL THEN interaction_id END) AS n
        LEFT JOIN {rules} AS r ON r.id = n.rule_id
        GROUP BY n.lead_id, n.rule_id, r.name, n.dimension, n.cause"""  # noqa: S608 (the tables' names are the models')
    with connection.cursor() as cursor:
        cursor.execute(sql, list(lead_ids))
        return [
            LedgerSum(lead_id, rule_id, name, dimension, cause, int(points), int(times))
            for lead_id, rule_id, name, dimension, cause, points, times in cursor.fetchall()
        ]


def lead_score_breakdown(*, lead: Lead) -> list[BreakdownLine]:
    """Why this lead has its score: the ledger summed by rule (and, for rows of no rule,
    by cause), largest first.

    A rule's line nets every row it wrote, whatever the cause: its awards, the revisions
    late interactions made to them and the rescores that changed them are one reason, so a
    rule changed and rescored shows once, with the points it gives now. Its times are the
    interactions (or, for fit, the award) it still gives points for: a rescore that took an
    award back under a new cap does not count it."""
    sums = ledger_sums(lead_ids=[lead.pk])
    by_rule = {(row.dimension, row.rule_id): (row.points, row.times) for row in sums if row.rule_id is not None}
    by_cause = {(row.dimension, row.cause or ""): (row.points, row.times) for row in sums if row.rule_id is None}
    rules = {rule.id: rule for rule in rules_pure(ids=[rule_id for _, rule_id in by_rule])}
    names = dict(ScoringRule.objects.filter(id__in=rules).values_list("id", "name"))
    # The company's own types in their words, as the rule list and the sales queue write them.
    custom = {kind for rule in rules.values() for kind in rule.interaction_types if kind not in event_types.BUILT_IN}
    labels = event_type_labels(keys=custom) if custom else {}
    cause_labels = dict(ScoreEntry.Cause.choices)
    lines = []
    for (dimension, rule_id), (points, times) in by_rule.items():
        if not points:
            continue
        rule = rules.get(rule_id)
        if rule is not None:
            label, sentence = names[rule.id], sentences.describe_rule(rule, type_labels=labels)
        else:  # not a live rule of the default scorecard: its points still count
            label, sentence = str(cause_labels[ScoreEntry.Cause.RULE]), ""
        lines.append(BreakdownLine(label, sentence, dimension, points, times))
    for (dimension, cause), (points, times) in by_cause.items():
        if not points and cause == ScoreEntry.Cause.RULE:
            continue
        lines.append(BreakdownLine(str(cause_labels.get(cause, cause)), "", dimension, points, times))
    lines.sort(key=lambda line: (-abs(line.points), line.label))
    return lines


def lead_ledger(*, lead: Lead, limit: int = 50) -> list[ScoreEntry]:
    return list(
        ScoreEntry.objects.filter(lead=lead)
        .select_related("rule", "interaction", "created_by")
        .order_by("-created_at", "-id")[:limit]
    )


def lead_ledger_page(*, lead_id: int, before_id: int | None = None, limit: int = 50) -> list[ScoreEntry]:
    """The lead's ledger rows newest first (by id: rows are only ever appended), those
    older than ``before_id`` when given: a page that rows written meanwhile never shift.
    One query; the lead's rows are found through ledger_lead_rule_idx and sorted."""
    rows = ScoreEntry.objects.filter(lead_id=lead_id)
    if before_id is not None:
        rows = rows.filter(pk__lt=before_id)
    return list(
        rows.select_related("rule", "interaction")
        .only(
            "id", "lead_id", "dimension", "delta", "cause", "occurred_at", "created_at", "note",
            "rule", "rule__name", "interaction", "interaction__type", "interaction__occurred_at",
        )
        .order_by("-id")[:limit]
    )  # fmt: skip


def set_aside_open(*, kind: str) -> QuerySet[SetAside]:
    """The rows of ``kind`` set aside and not retried since (a batch keeps them out of its way)."""
    return SetAside.objects.filter(kind=kind, resolved_at__isnull=True)


def set_aside_open_ids(*, kind: str) -> list[int]:
    return list(set_aside_open(kind=kind).values_list("row_id", flat=True))


# --- event types ---------------------------------------------------------------------


def event_type_labels(*, keys: Iterable[str] | None = None) -> dict[str, str]:
    """The labels of the types (all, or ``keys``) that have one; built-in types have
    theirs in code. One query."""
    rows = EventType.objects.exclude(label="")
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    return dict(rows.values_list("key", "label"))


def event_types_known() -> dict[str, str]:
    """Every known type (built in, declared or seen) with its words, by name; one query."""
    known = dict(event_types.BUILT_IN)
    for key, label, declared, seen in EventType.objects.values_list("key", "label", "declared", "seen_count"):
        if declared or seen or key in known:
            known[key] = event_types.label(key, {key: label})
    return dict(sorted(known.items()))


def event_types_seen() -> list[str]:
    """The types interactions have come with (declared or not)."""
    return list(EventType.objects.filter(seen_count__gt=0).values_list("key", flat=True))


def campaign_keys_defined(keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` a campaign is defined with; one query (none for no keys)."""
    wanted = set(keys)
    return set(Campaign.objects.filter(key__in=wanted).values_list("key", flat=True)) if wanted else set()


def segment_event_mapping() -> dict[str, str]:
    """Segment event name (as :func:`event_types.name_key` matches it) -> type; one query."""
    rows = SegmentEvent.objects.values_list("name", "event_type__key")
    return {event_types.name_key(name): key for name, key in rows}


def segment_event_names() -> dict[str, list[str]]:
    """Type -> the Segment event names mapped to it, as written; one query."""
    found: dict[str, list[str]] = {}
    for name, key in SegmentEvent.objects.order_by("name").values_list("name", "event_type__key"):
        found.setdefault(key, []).append(name)
    return found


def rules_by_type() -> dict[str, list[str]]:
    """The names of the engagement rules scoring each type, active ones first; one query."""
    found: dict[str, list[str]] = {}
    rules = ScoringRule.objects.filter(dimension=pure.Dimension.ENGAGEMENT.value).order_by("-active", "name")
    for name, active, kinds in rules.values_list("name", "active", "interaction_types"):
        for kind in kinds or ():
            found.setdefault(kind, []).append(name if active else f"{name} (inactive)")
    return found


# How many of the newest leads the admin looks at for custom attribute names: enough to
# see what the senders send, a bounded read however many leads there are.
ATTRIBUTE_SAMPLE = 1000


def lead_fields_known(*, extra_fields: Iterable[str] = ()) -> dict[str, str]:
    """What a fit condition may test, to offer in the admin: the lead fields with their
    words, then ``attributes.<name>`` for the custom attributes rules already test, those
    in ``extra_fields`` (another app's conditions) and those of the newest leads. Three
    queries at most, whatever the number of leads."""
    known = dict(pure.LEAD_FIELDS)
    attributes: set[str] = {
        name
        for name in RuleCondition.objects.filter(
            rule__dimension=pure.Dimension.FIT, field__startswith=pure.CUSTOM_PREFIX
        ).values_list("field", flat=True)
    }
    attributes.update(name for name in extra_fields if name.startswith(pure.CUSTOM_PREFIX))
    for values in Lead.objects.order_by("-pk").values_list("attributes", flat=True)[:ATTRIBUTE_SAMPLE]:
        if isinstance(values, dict):
            attributes.update(f"{pure.CUSTOM_PREFIX}{key}" for key in values)
    for name in sorted(attributes):
        if pure.check_field(name, dimension=pure.Dimension.FIT) is None:
            known.setdefault(name, f"custom attribute {name[len(pure.CUSTOM_PREFIX) :]}")
    return known


def lead_prediction(*, lead_id: int) -> dict[str, object] | None:
    """The lead's latest predicted probability, the version that computed it and its
    reasons, as the API shows them; None before any model scored the lead. One query."""
    from scoring.models import LeadPrediction

    found = LeadPrediction.objects.select_related("model").filter(lead_id=lead_id).first()
    if found is None:
        return None
    return {
        "probability": found.probability,
        "model_version": found.model.number,
        "reasons": found.reasons,
        "computed_at": found.computed_at,
    }


# --- accounts ------------------------------------------------------------------------

ROLLUP_WORDS = {
    "sum": gettext_lazy("the sum of its leads' scores"),
    "max": gettext_lazy("its best lead's score"),
    "top_average": gettext_lazy("the average of its best {n} leads' scores"),
}


@dataclass(frozen=True)
class AccountLine:
    label: str
    explanation: str
    points: int


def account_score_breakdown(*, account: Account) -> list[AccountLine]:
    """Why the account has its score: the roll-up of its leads, then each fit rule's
    points (from the account ledger, so the lines add up to the cached total)."""
    config = AccountSettings.objects.filter(pk=1).first() or AccountSettings()
    lines = [
        AccountLine(gettext("Leads"), str(ROLLUP_WORDS[config.rollup]).format(n=config.top_n), account.lead_score),
    ]
    rows = (
        AccountEntry.objects.filter(account=account, dimension=AccountEntry.Dimension.FIT)
        .values("rule_id", "rule__name")
        .annotate(points=Sum("delta"))
        .order_by("-points", "rule__name")
    )
    lines.extend(
        AccountLine(row["rule__name"] or gettext("Other"), gettext("account fit rule"), row["points"])
        for row in rows
        if row["points"]
    )
    return lines


def account_leads(*, account_id: int, limit: int = 50) -> list[Lead]:
    """The account's best leads, by total score (the lead list's index order)."""
    return list(
        Lead.objects.filter(account_id=account_id).select_related("score_group").order_by("-total_score", "id")[:limit]
    )


def account_ledger_page(*, account_id: int, page: int = 1, per_page: int = 50) -> tuple[list[AccountEntry], bool]:
    """The account ledger, newest first: the rows of ``page`` (from 1) and whether
    older ones follow."""
    start = (max(page, 1) - 1) * per_page
    rows = list(
        AccountEntry.objects.filter(account_id=account_id)
        .select_related("rule")
        .order_by("-id")[start : start + per_page + 1]
    )
    return rows[:per_page], len(rows) > per_page


def account_transitions(*, account_id: int, limit: int = 50) -> list[AccountTransition]:
    """The account's latest moves between account groups, newest first."""
    return list(
        AccountTransition.objects.filter(account_id=account_id)
        .select_related("from_group", "to_group")
        .order_by("-occurred_at", "-id")[:limit]
    )
