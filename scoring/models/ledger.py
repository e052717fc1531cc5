"""The score ledger and what happens over time: group transitions (the outbox routing
reads), the lifecycle stage history, decay runs, rescore jobs and their lanes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from scoring import localized
from scoring import rules as pure
from scoring.models.design import Scorecard, ScoreGroup, ScoringRule
from scoring.models.leads import Interaction, Lead, LifecycleStage

# Keys unchecked: why the ledgers' lead, rule and scorecard keys have no constraint in the database: on
# PostgreSQL each is a check per row at commit (of 100,000 rows, 1.2-1.4 s of a 1.7-2.0 s
# insert), paid by every scoring batch, decay and rescore, for what their writers already
# ensure. Every writer of ledger rows holds the lead's row lock, or (decay) updates the lead
# in the same statement; erasing a lead takes that lock first and deletes the rows through
# Django's collector, which keeps CASCADE and RESTRICT (a rule or scorecard with rows is
# not deleted). The interaction key is not even checked by the collector (DO_NOTHING): an
# interaction is deleted only with its lead, whose rows here go with it, or by retention,
# after it has compacted them; asking the ledger for rows by interaction read the whole
# default ledger at every erasure (it has no index by interaction; the scorecards' ledger
# had one only for that, an entry paid by each of its rows).


class LedgerFields(models.Model):
    """What a row of either score ledger says: a change of a lead's score on one dimension,
    its cause and when. :class:`ScoreEntry` (the default scorecard) and
    :class:`ScorecardEntry` (the others) add the lead, the rule and the interaction, whose
    reverse names differ."""

    class Cause(models.TextChoices):
        RULE = "rule", _("Rule")
        MANUAL = "manual", _("Manual adjustment")
        RESCORE = "rescore", _("Rescore")
        DECAY = "decay", _("Decay")
        # An award changed because an interaction that happened earlier arrived
        # later (caps and windows are judged in the order things happened).
        REVISED = "revised", _("Revised by a late interaction")
        # The sum of the rows retention compacted: those older than the months it keeps.
        OPENING = "opening", _("Opening balance")

    dimension = models.CharField(
        verbose_name=_("dimension"),
        max_length=20,
        choices=[(pure.Dimension.FIT.value, _("Fit")), (pure.Dimension.ENGAGEMENT.value, _("Engagement"))],
    )
    delta = models.IntegerField(verbose_name=_("delta"))
    cause = models.CharField(verbose_name=_("cause"), max_length=20, choices=Cause.choices)
    occurred_at = models.DateTimeField(
        verbose_name=_("occurred at"), help_text=_("When what caused the change happened.")
    )
    # When the row was written: now, unless the writer says (a batch writes its rows at its
    # own time, as decay's night or a demo history's day; auto_now_add overrode that on the
    # ORM's path, SQLite's, while PostgreSQL's statements kept it).
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now, editable=False)
    note = models.CharField(verbose_name=_("note"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        abstract = True


class ScoreEntry(LedgerFields):
    """One row of the append-only score ledger."""

    # The ledger is the most written table: foreign keys are indexed only by
    # the composite or partial indexes below.
    # No constraint in the database on the lead or the rule (see "Keys unchecked" above).
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="score_entries",
        db_index=False,
    )
    # RESTRICT: history keeps its rules (deactivate a rule instead of deleting
    # it), but erasing a lead still removes its interactions and entries.
    rule = models.ForeignKey(
        ScoringRule,
        verbose_name=_("rule"),
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        db_constraint=False,
        related_name="entries",
        db_index=False,
    )
    # No constraint in the database: on PostgreSQL interactions are partitioned by month,
    # and a foreign key to a partitioned table must name its whole key (id and month). Nor
    # in the collector (see "Keys unchecked" above); retention drops an interaction's month
    # only after compacting the rows here that name it.
    interaction = models.ForeignKey(
        Interaction,
        verbose_name=_("interaction"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="entries",
        db_index=False,
    )

    class Meta:
        verbose_name = _("score entry")
        verbose_name_plural = _("score entries")
        constraints = [
            # A rule scores an interaction at most once, whatever the workers do
            # (revisions and rescores of that award are further rows of their own causes).
            models.UniqueConstraint(
                # With occurred_at, which the table is partitioned by on PostgreSQL: an
                # award's is its interaction's, so this is still one per (interaction, rule).
                fields=["interaction", "rule", "occurred_at"],
                condition=Q(interaction__isnull=False, cause="rule"),
                name="ledger_one_award_per_interaction_rule",
            ),
        ]
        indexes = [
            # A lead's rows by rule, carrying what the sums by lead and rule read (rescore,
            # "why this score", caps) and the reports' score at a hand-off (created_at):
            # read from the index alone, not from rows spread over the whole table.
            models.Index(
                fields=["lead", "rule", "occurred_at"],
                include=["dimension", "delta", "interaction", "created_at"],
                name="ledger_lead_rule_idx",
            ),
            models.Index(fields=["rule"], condition=Q(rule__isnull=False), name="ledger_rule_idx"),
            models.Index(fields=["created_by"], condition=Q(created_by__isnull=False), name="ledger_created_by_idx"),
        ]

    def __str__(self) -> str:
        return gettext("{delta} {dimension} points for lead {lead} ({cause})").format(
            delta=localized.signed(self.delta),
            dimension=self.get_dimension_display(),
            lead=self.lead_id,
            cause=self.get_cause_display(),
        )


class ScorecardEntry(LedgerFields):
    """One row of the ledger of the scorecards other than the default one: as a
    :class:`ScoreEntry`, with its scorecard. Apart from the default ledger so that every
    reader of a lead's single score (reports, the breakdown, predictive scoring) reads
    what it always did, and the default ledger's indexes stay as narrow. A lead's
    :class:`LeadScore` on a scorecard equals its rows' sums by dimension."""

    # No constraint in the database on these three (see "Keys unchecked" above).
    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    scorecard = models.ForeignKey(
        Scorecard,
        verbose_name=_("scorecard"),
        on_delete=models.RESTRICT,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    rule = models.ForeignKey(
        ScoringRule,
        verbose_name=_("rule"),
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    # No constraint in the database: on PostgreSQL interactions are partitioned by month,
    # and a foreign key to a partitioned table must name its whole key (id and month). Nor
    # in the collector (see "Keys unchecked" above); retention drops an interaction's month
    # only after compacting the rows here that name it.
    interaction = models.ForeignKey(
        Interaction,
        verbose_name=_("interaction"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )

    class Meta:
        verbose_name = _("scorecard entry")
        verbose_name_plural = _("scorecard entries")
        constraints = [
            models.UniqueConstraint(
                fields=["interaction", "rule", "occurred_at"],
                condition=Q(interaction__isnull=False, cause="rule"),
                name="sc_ledger_one_award_per_interaction_rule",
            ),
        ]
        # Every scoring batch and decay run writes rows here, a row per scorecard: each index
        # is paid on every row. Every reader of rows names their leads (the first index); no
        # index by rule or by scorecard alone, which only deleting a rule or a scorecard would
        # read (the RESTRICT check, made on publishing and discarding a draft, whose rows are
        # never scored): that check reads the table once per delete instead. None by
        # interaction either: nothing asks for rows by it (see "Keys unchecked" above).
        indexes = [
            # The sums by (lead, scorecard, dimension) and by (lead, rule) read from the index alone.
            models.Index(
                fields=["lead", "scorecard", "rule", "occurred_at"],
                include=["dimension", "delta", "interaction"],
                name="sc_ledger_lead_rule_idx",
            ),
            models.Index(fields=["created_by"], condition=Q(created_by__isnull=False), name="sc_ledger_created_by_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.delta:+d} {self.dimension} for lead {self.lead_id} on scorecard {self.scorecard_id}"


class AwardRollup(models.Model):
    """What a rule gave a lead for the interactions whose ledger rows retention compacted
    (scoring.services.retention), kept for the rule's caps: the number of awards (those
    whose net points are not 0) and the sum of their points, taken as positive.

    ``whole`` rows hold all of them, one per (lead, rule), ``occurred_at`` the last one's
    time: a cap with no window counts them. The others hold the awards of one moment
    that are less than the rule's window before the horizon, where a cap with a window
    can still see them; older ones are dropped."""

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="+", db_index=False)
    # RESTRICT, as the ledger's: history keeps its rules.
    rule = models.ForeignKey(
        ScoringRule, verbose_name=_("rule"), on_delete=models.RESTRICT, related_name="+", db_index=False
    )
    whole = models.BooleanField(verbose_name=_("all of them"))
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    awards = models.PositiveIntegerField(verbose_name=_("awards"))
    points = models.PositiveIntegerField(verbose_name=_("points"))

    class Meta:
        verbose_name = _("award roll-up")
        verbose_name_plural = _("award roll-ups")
        constraints = [
            models.UniqueConstraint(fields=["lead", "rule"], condition=Q(whole=True), name="award_rollup_whole"),
            models.UniqueConstraint(
                fields=["lead", "rule", "occurred_at"], condition=Q(whole=False), name="award_rollup_moment"
            ),
        ]
        indexes = [models.Index(fields=["rule"], name="award_rollup_rule_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}, rule {self.rule_id}: {self.awards} awards, {self.points} points"


def _lead_causes() -> dict[str, object]:
    """A lead's group transition's stored causes: the ledger's, and those of the moves no
    ledger row records (the score groups changed, a stage set, a sales outcome)."""
    return {
        **dict(ScoreEntry.Cause.choices),
        "regroup": _("The score groups changed"),
        "create": _("Lead created"),
        "update": _("Lead edited"),
        "admin": _("Changed in the admin"),
        "api": _("Reported through the API"),
        "routing": _("Routing"),
        "sales": _("Sales"),
        "rejected": _("Rejected"),
        "disqualified": _("Disqualified"),
    }


def _group_name(group: ScoreGroup | None) -> str:
    return group.name if group is not None else gettext("No group")


def _stage(stage: str) -> str:
    """A lifecycle stage as its reader names it ("mql": "Marketing qualified (MQL)")."""
    return str(dict(LifecycleStage.choices).get(stage, stage))


class GroupTransition(models.Model):
    """Something routing acts on happened to a lead: an outbox that routing consumes.

    Kinds: a score change that moved the lead to another group or across a
    watched score (``score``), a change of lifecycle stage (``stage``), sales
    qualified or disqualified the lead, its account crossed an account group
    (``account``: recorded on the account's best lead then, with the account's
    totals and its :class:`AccountTransition`). Written in the same transaction as the
    change; routing marks a row processed when it has acted on it, so a crash
    in between loses nothing and a re-run acts once.
    """

    class Kind(models.TextChoices):
        SCORE = "score", _("Score change")
        STAGE = "stage", _("Lifecycle stage change")
        QUALIFIED = "qualified", _("Qualified by sales")
        DISQUALIFIED = "disqualified", _("Disqualified by sales")
        PROBABILITY = "probability", _("Predicted probability crossed a watched value")
        ACCOUNT = "account", _("Its account moved between account groups")

    class Direction(models.TextChoices):
        UP = "up", _("Up")
        DOWN = "down", _("Down")

    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="transitions", db_index=False
    )
    kind = models.CharField(
        verbose_name=_("kind"), max_length=20, choices=Kind.choices, default=Kind.SCORE, db_default=Kind.SCORE
    )
    # No index on the groups: every scoring batch, decay run and routing pass writes
    # these rows, while only deleting a score group looks them up by group.
    from_group = models.ForeignKey(
        ScoreGroup,
        verbose_name=_("from group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    to_group = models.ForeignKey(
        ScoreGroup,
        verbose_name=_("to group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    direction = models.CharField(
        verbose_name=_("direction"), max_length=4, choices=Direction.choices, blank=True, db_default=""
    )
    previous_total = models.IntegerField(
        verbose_name=_("previous total"),
        null=True,
        blank=True,
        help_text=_("The lead's total right before the change."),
    )
    total_score = models.IntegerField(
        verbose_name=_("total score"), help_text=_("The lead's total right after the change.")
    )
    from_stage = models.CharField(verbose_name=_("from stage"), max_length=20, blank=True, db_default="")
    to_stage = models.CharField(verbose_name=_("to stage"), max_length=20, blank=True, db_default="")
    # Kind probability: the watched probability (percent) crossed, up or down (direction).
    watch_percent = models.PositiveSmallIntegerField(verbose_name=_("watch percent"), null=True, blank=True)
    detail = models.CharField(
        verbose_name=_("detail"),
        max_length=300,
        blank=True,
        db_default="",
        help_text=_("A reason given by a person, if any."),
    )
    # Kind score: the scorecard whose score moved; empty for the default scorecard.
    scorecard = models.ForeignKey(
        Scorecard,
        verbose_name=_("scorecard"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    # Kind account: the account's move it reports.
    account_transition = models.ForeignKey(
        "scoring.AccountTransition",
        verbose_name=_("account transition"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    cause = models.CharField(
        verbose_name=_("cause"),
        max_length=20,
        help_text=_("What caused it: rule, manual, rescore, decay, regroup, api, admin, routing, sales."),
    )
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    processed_at = models.DateTimeField(verbose_name=_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("group transition")
        verbose_name_plural = _("group transitions")
        indexes = [
            models.Index(fields=["id"], condition=Q(processed_at__isnull=True), name="transition_pending_idx"),
            models.Index(fields=["lead", "-occurred_at"], name="transition_lead_idx"),
        ]

    def __str__(self) -> str:
        # The groups by name: a list showing transitions reads them with the rows
        # (routing's action runs).
        cause = _lead_causes().get(self.cause, self.cause)
        if self.kind == self.Kind.STAGE:
            return gettext("Lead {lead}: stage {from_stage} → {to_stage} ({cause})").format(
                lead=self.lead_id, from_stage=_stage(self.from_stage), to_stage=_stage(self.to_stage), cause=cause
            )
        if self.kind != self.Kind.SCORE:
            return gettext("Lead {lead}: {kind} ({cause})").format(
                lead=self.lead_id, kind=self.get_kind_display(), cause=cause
            )
        return gettext("Lead {lead}: {from_group} → {to_group} ({cause})").format(
            lead=self.lead_id, from_group=_group_name(self.from_group), to_group=_group_name(self.to_group), cause=cause
        )

    @property
    def cause_label(self) -> str:
        """The cause as a person reads it; an account's move says its own (see
        :attr:`AccountTransition.cause_label`)."""
        if self.account_transition is not None:
            return self.account_transition.cause_label
        return str(_lead_causes().get(self.cause, self.cause))


class StageChange(models.Model):
    """A lead's lifecycle stage changed: the stage history reports read (the funnel, the
    time leads take from stage to stage). Written by scoring's services in the same
    transaction as the change, whoever makes it (the API, the admin, routing's
    ``set_stage``, sales marking a deal won), beside the outbox row routing acts on.

    ``from_stage`` is empty for a lead created at a stage other than ``lead`` (the
    default a new lead starts at records nothing: its creation time says when it
    entered it)."""

    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="stage_changes", db_index=False
    )
    from_stage = models.CharField(verbose_name=_("from stage"), max_length=20, blank=True)
    to_stage = models.CharField(verbose_name=_("to stage"), max_length=20)
    at = models.DateTimeField(verbose_name=_("at"))
    cause = models.CharField(
        verbose_name=_("cause"),
        max_length=20,
        help_text=_("What changed it: create or update (the API), admin, routing, sales."),
    )

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["lead", "at"], name="stagechange_lead_idx")]

    def __str__(self) -> str:
        return gettext("Lead {lead}: stage {from_stage} → {to_stage} ({cause})").format(
            lead=self.lead_id,
            from_stage=_stage(self.from_stage) if self.from_stage else gettext("(new)"),
            to_stage=_stage(self.to_stage),
            cause=_lead_causes().get(self.cause, self.cause),
        )


class DecayRun(models.Model):
    """One run of the nightly decay: what it did, for the admin."""

    day = models.DateField(verbose_name=_("day"))
    started_at = models.DateTimeField(verbose_name=_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    leads = models.PositiveIntegerField(verbose_name=_("leads"), default=0)
    points = models.IntegerField(verbose_name=_("points"), default=0)

    class Meta:
        verbose_name = _("decay run")
        verbose_name_plural = _("decay runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return ngettext(
            "Decay of {day}: {leads} lead, {points} points",
            "Decay of {day}: {leads} leads, {points} points",
            self.leads,
        ).format(day=localized.when(self.day), leads=localized.number(self.leads), points=localized.number(self.points))


class RescoreJob(models.Model):
    """Rescore leads from their history after a rule change, or regroup them after the
    score groups changed: in the background, in chunks, by any number of workers at
    once, resumable (see :class:`RescoreLane`)."""

    class Kind(models.TextChoices):
        RESCORE = "rescore", _("Rescore from history")
        REGROUP = "regroup", _("Regroup (score groups changed)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    group = models.ForeignKey(
        ScoreGroup,
        verbose_name=_("group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Only leads in this group (empty: all leads)."),
    )
    lead_ids = models.JSONField(
        verbose_name=_("lead ids"), null=True, blank=True, help_text=_("Only these leads (empty: as the group says).")
    )
    kind = models.CharField(
        verbose_name=_("kind"), max_length=10, choices=Kind.choices, default=Kind.RESCORE, editable=False
    )
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(verbose_name=_("total"), default=0)
    done = models.PositiveIntegerField(verbose_name=_("done"), default=0)
    entries = models.PositiveIntegerField(
        verbose_name=_("entries"), default=0, help_text=_("Ledger rows written (regroup: leads that changed group).")
    )
    error = models.TextField(verbose_name=_("error"), blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("rescore job")
        verbose_name_plural = _("rescore jobs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        if self.kind == self.Kind.REGROUP:
            words = gettext("Regroup {number}: {done} of {total} leads ({status})")
        else:
            words = gettext("Rescore {number}: {done} of {total} leads ({status})")
        return words.format(
            number=self.pk,
            done=localized.number(self.done),
            total=localized.number(self.total),
            status=self.get_status_display(),
        )

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.done / self.total))


class RescoreLane(models.Model):
    """A slice of a rescore job's leads (ids in [low, high)), rescored chunk by chunk
    in id order by one worker at a time, which holds the lane's row lock for the
    chunk: its cursor ``last_lead_id`` moves in the chunk's transaction, so a
    stopped worker's lane resumes exactly where its last chunk committed."""

    job = models.ForeignKey(RescoreJob, verbose_name=_("job"), on_delete=models.CASCADE, related_name="lanes")
    position = models.PositiveIntegerField(verbose_name=_("position"))
    low = models.BigIntegerField(verbose_name=_("low"))
    high = models.BigIntegerField(verbose_name=_("high"))
    last_lead_id = models.BigIntegerField(verbose_name=_("last lead id"), default=0)
    finished = models.BooleanField(verbose_name=_("finished"), default=False)

    class Meta:
        verbose_name = _("rescore lane")
        verbose_name_plural = _("rescore lanes")
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="rescore_lane_position")]

    def __str__(self) -> str:
        return f"lane {self.position} of rescore #{self.job_id}: ids {self.low}-{self.high - 1}"
