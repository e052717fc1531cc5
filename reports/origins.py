"""Each lead's origin (:class:`~reports.models.LeadOrigin`): its source, its first and last
campaign touch, the furthest funnel step it reached and when it first reached each, kept
once per lead so the campaigns report and the source filter read one row per lead rather
than ranking every interaction per request. For the overview's funnel it keeps when the
lead first reached each step and how long each step took, and the funnel's sums of those
(:class:`~reports.models.FunnelCount`, read by :mod:`reports.funnel`). For the rule lift
it keeps whether the lead won and which rules scored it, and the sums of those per day of
creation, source and rule (:class:`~reports.models.RuleLiftCount`, read by
:mod:`reports.queries.lift`).

The interactions, the stage history and the leads stay the truth. The nightly rebuild
writes what they say, touching only rows that differ (a second run writes nothing), and
records how far it read (:class:`~reports.models.RollupMark`). A lead created after it,
or with an interaction or a stage change past that mark, is read live from the same
expressions the rebuild uses, so a report equals the naive computation at any moment; a
lead never rebuilt is read live too; so is a lead with a ledger row of a rule or a won
outcome past the mark. The stage now is part of a lead's origin: every
change of stage records a stage change (scoring's services do, in the same transaction).

Rows settle before the mark: the interactions' mark is the highest received ``SETTLE``
before the rebuild, so a slow transaction still in flight (its id taken but not yet
visible) is left to the live reading rather than missed. Interactions handed over from
a visitor keep their old ids; they arrive with an identifying interaction of the lead,
which makes the lead fresh. A lead erased takes its origin with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat, Greatest
from django.utils import timezone

from reports import medians, mqls
from reports.models import (
    FunnelCount,
    LeadErasures,
    LeadOrigin,
    MqlMonthCount,
    RollupMark,
    RuleLiftCount,
    ScoreCount,
)
from routing.models import Outcome
from scoring.models import GroupTransition, Interaction, Lead, LifecycleStage, ScoreEntry, StageChange

M = TypeVar("M", bound=Model)

NAME = "origins"
SETTLE = timedelta(minutes=10)
CHUNK = 50_000  # leads per step of the rebuild: bounded memory at millions of leads
FIELDS = (
    "source",
    "first_campaign",
    "first_campaign_at",
    "last_campaign",
    "last_campaign_at",
    "reached_step",
    "created_at",
    *(f"{stage}_at" for stage in ("mql", "sql", "opportunity", "customer")),
)
# What else a kept row holds, for the rule lift (:mod:`reports.queries.lift`).
LIFT_FIELDS = ("won", "scored_rules")
# What else: the lead's group (its id) and scores, for the overview's groups now and its
# histograms (:mod:`reports.scores`).
SCORE_FIELDS = ("score_group_id", "fit_score", "engagement_score")
KEPT = (*FIELDS, *LIFT_FIELDS, *SCORE_FIELDS)
# When the lead was at each step of the funnel, and the time each step took from the one
# before (derived from those, written with them: :func:`steps_after`).
STEP_TIMES = ("created_at", "mql_at", "sql_at", "opportunity_at", "customer_at")
AFTER = ("mql_after", "sql_after", "opportunity_after", "customer_after")
# The funnel's steps past "All leads", as the overview counts them.
STEPS = {LifecycleStage.MQL: 1, LifecycleStage.SQL: 2, LifecycleStage.OPPORTUNITY: 3, LifecycleStage.CUSTOMER: 4}


def _campaign_touch(field: str, *, order: tuple[str, ...]) -> Subquery:
    """``field`` (``campaign_key`` or ``occurred_at``) of the lead's (outer row's) first
    interaction carrying a campaign, in ``order``."""
    touches = (
        Interaction.objects.filter(lead_id=OuterRef("pk"))
        .annotate(campaign_key=Cast(KT("properties__campaign"), CharField()))
        .exclude(campaign_key__isnull=True)
        .exclude(campaign_key="")
        .order_by(*order)
        .values(field)
    )
    return Subquery(touches[:1])


def _step(field: str) -> Case:
    return Case(
        *(When(**{field: stage}, then=Value(n)) for stage, n in STEPS.items()),
        default=Value(0),
        output_field=IntegerField(),
    )


def origins_of(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """The origin of each of ``leads``, computed from its interactions, its stage history
    and its stage now: ``lead_id`` and :data:`FIELDS`."""
    first_source = Interaction.objects.filter(lead_id=OuterRef("pk")).order_by("occurred_at", "id").values("source")
    first, last = ("occurred_at", "id"), ("-occurred_at", "-id")
    top = (
        StageChange.objects.filter(lead_id=OuterRef("pk"))
        .order_by()
        .values("lead_id")
        .annotate(top=Max(_step("to_stage")))
        .values("top")[:1]
    )
    reached_at = {
        f"{stage.value}_at": Subquery(
            StageChange.objects.filter(lead_id=OuterRef("pk"))
            .annotate(step=_step("to_stage"))
            .filter(step__gte=n)
            .order_by()
            .values("lead_id")
            .annotate(first=Min("at"))
            .values("first")[:1]
        )
        for stage, n in STEPS.items()
    }
    return leads.order_by().annotate(
        lead_id=F("pk"),
        source=Coalesce(Subquery(first_source[:1]), Value("")),
        first_campaign=Coalesce(_campaign_touch("campaign_key", order=first), Value("")),
        first_campaign_at=_campaign_touch("occurred_at", order=first),
        last_campaign=Coalesce(_campaign_touch("campaign_key", order=last), Value("")),
        last_campaign_at=_campaign_touch("occurred_at", order=last),
        reached_step=Greatest(Coalesce(Subquery(top), Value(0)), _step("lifecycle_stage")),
        won=Exists(Outcome.objects.filter(lead_id=OuterRef("pk"), kind=Outcome.Kind.WON)),
        **reached_at,
    )


def scored_rules_of(leads: QuerySet[Lead]) -> dict[int, list[int]]:
    """The rules that scored each of ``leads`` (ascending ids), by lead: those whose
    ledger rows for the lead sum to something (an award a rescore took back whole does
    not count). A lead no rule scored is not in it."""
    pairs = (
        ScoreEntry.objects.filter(rule__isnull=False, lead_id__in=leads.order_by().values("pk"))
        .order_by()
        .values("lead_id", "rule_id")
        .annotate(net=Sum("delta"))
        .exclude(net=0)
        .values_list("lead_id", "rule_id")
    )
    rules: dict[int, list[int]] = {}
    for lead, rule in pairs:
        rules.setdefault(lead, []).append(rule)
    return {lead: sorted(found) for lead, found in rules.items()}


def kept_of(leads: QuerySet[Lead]) -> dict[int, tuple[Any, ...]]:
    """What a kept row of each of ``leads`` holds, computed now: :data:`KEPT`, by lead."""
    rules = scored_rules_of(leads)
    scores = len(SCORE_FIELDS)
    return {
        row[0]: (*row[1 : -scores - 1], row[-scores - 1], rules.get(row[0], []), *row[-scores:])
        for row in origins_of(leads).values_list("lead_id", *FIELDS, "won", *SCORE_FIELDS)
    }


def mark_read() -> RollupMark | None:
    """The mark, with how many leads have been erased now (``erased_now``)."""
    erased = LeadErasures.objects.order_by().values("count")[:1]
    return RollupMark.objects.filter(name=NAME).annotate(erased_now=Coalesce(Subquery(erased), Value(0))).first()


def sums_usable(mark: RollupMark | None) -> bool:
    """Whether the kept sums can be read with the leads changed since: there has been a
    rebuild, and no lead was erased since it began (an erased lead stays in the sums with
    nothing to take it out by; until the next rebuild, the reports count live)."""
    return mark is not None and getattr(mark, "erased_now", 0) == mark.erased_before


def fresh_leads(mark: RollupMark | None, *, field: str = "pk", scores: bool = False) -> Q:
    """Leads (by ``field``) the rebuild did not settle: created after it, or with an
    interaction or a stage change past its mark (every lead, before the first rebuild);
    with ``scores``, also those with any ledger row or group transition past it (their
    scores or group may have changed)."""
    interaction_id, stage_change_id, lead_id, score_entry_id, outcome_id = (
        (mark.interaction_id, mark.stage_change_id, mark.lead_id, mark.score_entry_id, mark.outcome_id)
        if mark
        else (0, 0, 0, 0, 0)
    )
    newer = Interaction.objects.filter(pk__gt=interaction_id, lead__isnull=False).order_by().values("lead_id")
    staged = StageChange.objects.filter(pk__gt=stage_change_id).order_by().values("lead_id")
    created = Lead.objects.filter(pk__gt=lead_id).order_by().values("pk")
    scored = ScoreEntry.objects.filter(pk__gt=score_entry_id, rule__isnull=False).order_by().values("lead_id")
    won = Outcome.objects.filter(pk__gt=outcome_id, kind=Outcome.Kind.WON).order_by().values("lead_id")
    parts = [staged, created, scored, won]
    if scores:
        parts += [
            ScoreEntry.objects.filter(pk__gt=score_entry_id).order_by().values("lead_id"),
            GroupTransition.objects.filter(pk__gt=mark.transition_id if mark else 0).order_by().values("lead_id"),
        ]
    # One list of ids (each part read by its primary key's index), so the leads are
    # looked up by id rather than every lead tested against each part.
    return Q(**{f"{field}__in": newer.union(*parts, all=True)})


def from_source(source: str, *, lead_ref: str) -> Q:
    """Rows whose lead (``lead_ref``) came from ``source``: its first interaction's source
    is that source exactly, or one of its kind ("form" is every ``form:…``). Read from the
    kept origins, and live for the leads the rebuild did not settle."""
    mark = mark_read()

    def matching(field: str) -> Q:
        return Q(**{field: source}) | Q(**{f"{field}__startswith": f"{source}:"})

    # The row's own origin looked up by its primary key: "in every kept origin of the
    # source" hashed a quarter of a million origins per request to keep a few thousand
    # outcomes (an OR of two IN lists is not turned into a join).
    kept = Exists(
        LeadOrigin.objects.filter(lead_id=OuterRef(lead_ref))
        .filter(matching("source"))
        .exclude(fresh_leads(mark, field="lead_id"))
    )
    live = origins_of(Lead.objects.filter(fresh_leads(mark))).filter(matching("source")).values("pk")
    return Q(kept) | Q(**{f"{lead_ref}__in": live})


def of_source_per_row(rows: QuerySet[M], source: str, *, lead_ref: str) -> QuerySet[M]:
    """Rows whose lead (``lead_ref``) came from ``source`` (as :func:`from_source` says), its
    kept origin read by its primary key for each row: for a report whose rows are a small
    share of the leads (nurture's deliveries), where reading every origin of the source (a
    quarter of them) cost more than a look-up per row. ``source`` and its kind match in one
    comparison (the source followed by ":" starts with ``source`` followed by ":"), so the
    look-up is made once per row."""
    mark = mark_read()
    kept_source = Concat(
        Subquery(LeadOrigin.objects.filter(lead_id=OuterRef(lead_ref)).values("source")[:1]),
        Value(":"),
        output_field=CharField(),
    )
    fresh = fresh_leads(mark, field=lead_ref)
    live = origins_of(Lead.objects.filter(fresh_leads(mark))).filter(
        Q(source=source) | Q(source__startswith=f"{source}:")
    )
    matching: QuerySet[M] = rows.alias(kept_source_key=kept_source).filter(
        (Q(kept_source_key__startswith=f"{source}:") & ~fresh) | Q(**{f"{lead_ref}__in": live.values("pk")})
    )
    return matching


def origins_now() -> tuple[str, list[Any]]:
    """SQL (and its parameters) of every lead's origin as it is now, with the columns
    ``lead_id`` and :data:`FIELDS`: the kept rows of settled leads, and the others
    computed live."""
    mark = mark_read()
    columns = ", ".join(("lead_id", *FIELDS))
    kept = LeadOrigin.objects.exclude(fresh_leads(mark, field="lead_id")).values("lead_id", *FIELDS)
    kept_sql, kept_params = kept.query.sql_with_params()
    live_sql, live_params = (
        origins_of(Lead.objects.filter(fresh_leads(mark))).values("lead_id", *FIELDS).query.sql_with_params()
    )
    return (
        f"SELECT {columns} FROM ({kept_sql}) kept UNION ALL SELECT {columns} FROM ({live_sql}) live",  # noqa: S608
        [*kept_params, *live_params],
    )


def _chunks() -> Iterator[tuple[int, int]]:
    """Ranges of lead ids, ``CHUNK`` ids each, covering every lead."""
    edges = Lead.objects.aggregate(low=Min("pk"), high=Max("pk"))
    low, high = edges["low"], edges["high"]
    if low is None:
        return
    while low <= high:
        yield low, low + CHUNK
        low += CHUNK


def steps_after(times: Sequence[datetime | None]) -> tuple[timedelta | None, ...]:
    """From the times a lead was at each funnel step (:data:`STEP_TIMES`), the time each
    step after the first took from the one before (None: not known)."""
    return tuple(
        later - earlier if later is not None and earlier is not None else None for earlier, later in pairwise(times)
    )


def _origin(lead: int, row: tuple[Any, ...]) -> LeadOrigin:
    values = dict(zip(KEPT, row, strict=True))
    after = steps_after([values[name] for name in STEP_TIMES])
    return LeadOrigin(lead_id=lead, **values, **dict(zip(AFTER, after, strict=True)))


FunnelSums = dict[tuple[int, int | None], int]


def funnel_counted(sums: FunnelSums, reached: int, after: Sequence[timedelta | None], sign: int = 1) -> None:
    """Count a lead into the funnel's ``sums`` (:class:`~reports.models.FunnelCount`): the
    furthest step it ``reached``, and the whole hour of each step's time ``after`` the one
    before (``sign`` -1: take it out)."""
    sums[(reached, None)] = sums.get((reached, None), 0) + sign
    for step, duration in enumerate(after, start=1):
        if duration is not None:
            key = (step, medians.hour_of(duration))
            sums[key] = sums.get(key, 0) + sign


def _funnel_write(sums: FunnelSums) -> int:
    """Make the kept funnel sums ``sums``, changing only rows that differ; the rows added,
    changed or removed."""
    return _kept_write(FunnelCount, ("step", "hours"), ("leads",), {key: (n,) for key, n in sums.items()})


def lift_key(created_at: datetime | None, source: str) -> tuple[date, str] | None:
    """Where a lead counts in the rule lift's sums: the day it was created, in
    Leadflow's time zone, and its source."""
    return (timezone.localdate(created_at), source) if created_at is not None else None


def lift_counted(sums: dict[tuple[date, str, int | None], list[int]], row: tuple[Any, ...], sign: int = 1) -> None:
    """Count a kept row (:data:`KEPT`) into the rule lift's ``sums``: its day and source
    for all leads, and for each rule that scored it (``sign`` -1: take it out)."""
    values = dict(zip(KEPT, row, strict=True))
    key = lift_key(values["created_at"], values["source"])
    if key is None:
        return
    for rule in (None, *values["scored_rules"]):
        tally = sums.setdefault((*key, rule), [0, 0])
        tally[0] += sign
        tally[1] += sign * int(values["won"])


def _lift_write(sums: dict[tuple[date, str, int | None], list[int]]) -> int:
    """Make the kept rule lift sums ``sums``, changing only rows that differ; the rows
    added, changed or removed."""
    return _kept_write(
        RuleLiftCount, ("day", "source", "rule_id"), ("leads", "converted"), {k: tuple(v) for k, v in sums.items()}
    )


ScoreSums = dict[tuple[int | None, int, int], int]


def score_counted(sums: ScoreSums, key: tuple[Any, ...], sign: int = 1) -> None:
    """Count a lead's (group id, fit score, engagement score) into ``sums`` (``sign`` -1:
    take it out)."""
    group, fit, engagement = key
    sums[(group, fit, engagement)] = sums.get((group, fit, engagement), 0) + sign


def _scores_write(sums: ScoreSums) -> int:
    """Make the kept score counts ``sums``, changing only rows that differ."""
    return _kept_write(
        ScoreCount, ("group_id", "fit_score", "engagement_score"), ("leads",), {key: (n,) for key, n in sums.items()}
    )


def _mqls_write(counts: dict[date, int]) -> int:
    """Make the kept MQLs per month ``counts``, changing only rows that differ."""
    return _kept_write(MqlMonthCount, ("month",), ("leads",), {(month,): (n,) for month, n in counts.items()})


def _kept_write(
    model: type[Model], keys: tuple[str, ...], figures: tuple[str, ...], sums: dict[Any, tuple[int, ...]]
) -> int:
    """Make ``model``'s rows (one per value of its ``keys`` fields) hold ``sums`` in their
    ``figures`` fields, changing only rows that differ: a key whose first figure is 0 (or
    not in ``sums``) has no row. Returns the rows added, changed or removed."""
    kept = {tuple(getattr(row, name) for name in keys): row for row in model._default_manager.all()}
    gone = [row.pk for key, row in kept.items() if not sums.get(key, (0,))[0]]
    new = [
        model(**dict(zip(keys, key, strict=True)), **dict(zip(figures, values, strict=True)))
        for key, values in sums.items()
        if values[0] and key not in kept
    ]
    changed = []
    for key, values in sums.items():
        row = kept.get(key)
        if row is not None and values[0] and tuple(getattr(row, name) for name in figures) != values:
            for name, value in zip(figures, values, strict=True):
                setattr(row, name, value)
            changed.append(row)
    model._default_manager.filter(pk__in=gone).delete()
    model._default_manager.bulk_create(new, batch_size=5_000)
    model._default_manager.bulk_update(changed, list(figures), batch_size=5_000)
    return len(gone) + len(new) + len(changed)


def origins_rebuild(*, now: datetime | None = None) -> int:
    """Write every lead's origin as the interactions, the stage history, the ledger and
    the outcomes say, and the rule lift's sums of them, changing only rows that differ,
    and move the mark. Returns the rows added, changed or removed: 0 when run again with
    nothing new."""
    now = now or timezone.now()
    settled = (
        Interaction.objects.filter(received_at__lt=now - SETTLE).order_by("-pk").values_list("pk", flat=True).first()
    )
    # Ledger rows are written by the scoring workers' transactions too: settled likewise.
    scored = ScoreEntry.objects.filter(created_at__lt=now - SETTLE).order_by("-pk").values_list("pk", flat=True).first()
    stage_changes = StageChange.objects.aggregate(top=Max("pk"))["top"]
    outcomes = Outcome.objects.aggregate(top=Max("pk"))["top"]
    leads = Lead.objects.aggregate(top=Max("pk"))["top"]
    transitions = (
        GroupTransition.objects.filter(occurred_at__lt=now - SETTLE)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    # Read before any lead: an erasure while the rebuild reads makes the readers count live.
    erased_before = LeadErasures.objects.values_list("count", flat=True).first() or 0
    written = 0
    scores: ScoreSums = {}
    sums: dict[tuple[date, str, int | None], list[int]] = {}
    funnel: FunnelSums = {}
    counted = 0
    # One transaction: the rule lift takes the kept rows of unsettled leads out of the
    # sums, so a reader must see the rows, the sums and the mark of one rebuild, never
    # rows rewritten by a rebuild whose sums are not written yet.
    with transaction.atomic():
        for low, high in _chunks():
            wanted = kept_of(Lead.objects.filter(pk__gte=low, pk__lt=high))
            kept = {
                row[0]: row[1:]
                for row in LeadOrigin.objects.filter(lead_id__gte=low, lead_id__lt=high).values_list("lead_id", *KEPT)
            }
            gone = [lead for lead in kept if lead not in wanted]
            new = [_origin(lead, row) for lead, row in wanted.items() if lead not in kept]
            changed = [_origin(lead, row) for lead, row in wanted.items() if lead in kept and kept[lead] != row]
            # A changed row is deleted and written anew: an update of thousands of rows names
            # each row in a CASE per column, which PostgreSQL tests row by row (minutes per
            # chunk when a night's decay changed the scores of most leads).
            stale = [*gone, *(row.lead_id for row in changed)]
            for start in range(0, len(stale), 5_000):  # well under SQLite's variable limit
                LeadOrigin.objects.filter(lead_id__in=stale[start : start + 5_000]).delete()
            LeadOrigin.objects.bulk_create([*new, *changed], batch_size=5_000)
            written += len(gone) + len(new) + len(changed)
            for row in wanted.values():
                lift_counted(sums, row)
                values = dict(zip(KEPT, row, strict=True))
                funnel_counted(funnel, values["reached_step"], steps_after([values[name] for name in STEP_TIMES]))
                score_counted(scores, tuple(values[name] for name in SCORE_FIELDS))
            counted += len(wanted)
        written += _lift_write(sums)
        written += _funnel_write(funnel)
        written += _scores_write(scores)
        written += _mqls_write(mqls.months_counted(upto=stage_changes or 0))
        RollupMark.objects.update_or_create(
            name=NAME,
            defaults={
                "interaction_id": settled or 0,
                "stage_change_id": stage_changes or 0,
                "lead_id": leads or 0,
                "score_entry_id": scored or 0,
                "outcome_id": outcomes or 0,
                "kept": counted,
                "transition_id": transitions or 0,
                "erased_before": erased_before,
                "built_at": now,
            },
        )
    if connection.vendor == "postgresql":
        # Fresh statistics for the reports' plans: a first build writes every row at once,
        # before autovacuum would look at the table. Vacuumed too when not inside a
        # transaction, so the funnel's middle hours are read from the index alone.
        with connection.cursor() as cursor:
            vacuum = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            cursor.execute(f"{vacuum} {LeadOrigin._meta.db_table}")
            cursor.execute(f"ANALYZE {RuleLiftCount._meta.db_table}")
            cursor.execute(f"ANALYZE {FunnelCount._meta.db_table}")
            cursor.execute(f"ANALYZE {ScoreCount._meta.db_table}")
    return written
