from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from scoring.models import Lead, Scorecard, ScoreGroup, ScoringRule


class Report(models.Model):
    """No table: holds the permission to read the overview and the reports, which
    Marketing has and sales managers have (read-only, like every report)."""

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        managed = False
        default_permissions = ()
        permissions = [("view_reports", "Can read the overview and the reports")]

    def __str__(self) -> str:
        return "Reports"


class DailyGroupCount(models.Model):
    """How many leads were in a score group (``group`` empty: in none) of a scorecard
    (``scorecard`` empty: the default one) at the end of a day, in Leadflow's time zone:
    the overview's 90-day trend. A nightly task fills it from the group transitions
    (:mod:`reports.snapshots`, its only writer); every day it covers has a row for each
    group of each scorecard and one for no group per scorecard, zeros included, so a day
    without a scorecard's rows is a day not yet counted for it."""

    day = models.DateField(verbose_name=_("day"))
    scorecard = models.ForeignKey(
        Scorecard, verbose_name=_("scorecard"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    group = models.ForeignKey(
        ScoreGroup, verbose_name=_("group"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    leads = models.PositiveIntegerField(verbose_name=_("leads"))

    class Meta:
        verbose_name = _("daily group count")
        verbose_name_plural = _("daily group counts")
        ordering = ["day", "group"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "group"], condition=Q(group__isnull=False), name="daily_one_per_group"
            ),
            models.UniqueConstraint(
                fields=["day"], condition=Q(group__isnull=True, scorecard__isnull=True), name="daily_one_without_group"
            ),
            models.UniqueConstraint(
                fields=["day", "scorecard"],
                condition=Q(group__isnull=True, scorecard__isnull=False),
                name="daily_one_without_group_per_scorecard",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.leads} leads in {self.group or 'no group'} ({self.scorecard or 'default'})"


class MqlTarget(models.Model):
    """Marketing's side of the agreement with sales: how many MQLs it commits to deliver
    in a month. The overview shows each month's target against the leads that reached
    MQL in it (:func:`reports.overview.mqls_against_target`). Marketing edits it in the
    admin."""

    month = models.DateField(
        verbose_name=_("month"), unique=True, help_text=_("The month, written YYYY-MM (kept as its first day).")
    )
    target = models.PositiveIntegerField(
        verbose_name=_("target"), help_text=_("MQLs marketing commits to deliver to sales in the month.")
    )

    class Meta:
        verbose_name_plural = _("MQL targets")
        ordering = ["-month"]
        verbose_name = _("MQL target")
        constraints = [models.CheckConstraint(condition=Q(month__day=1), name="mqltarget_first_day_of_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.target} MQLs"


class LeadOrigin(models.Model):
    """Where a lead came from and how far it went, kept once per lead so the campaigns
    report reads a row per lead instead of ranking millions of interactions on every
    request (:mod:`reports.origins`, its only writer): its source (the ``source`` of its
    first interaction), its first and last interaction carrying a campaign (key and
    moment), and the furthest funnel step it reached. Rebuilt every night; leads with
    newer interactions or stage changes are read live, so the report is always what the
    interactions and the stage history say."""

    lead = models.OneToOneField(
        Lead, verbose_name=_("lead"), primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(verbose_name=_("source"), max_length=100, blank=True)
    first_campaign = models.TextField(verbose_name=_("first campaign"), blank=True)  # "": no campaign touch
    first_campaign_at = models.DateTimeField(verbose_name=_("first campaign at"), null=True, blank=True)
    last_campaign = models.TextField(verbose_name=_("last campaign"), blank=True)
    last_campaign_at = models.DateTimeField(verbose_name=_("last campaign at"), null=True, blank=True)
    # The furthest step of the overview's funnel the lead reached (0: none past "All
    # leads"; 1 MQL … 4 customer) by its stage history or its stage now. Every change of
    # stage records a stage change (scoring's services do, in the same transaction), so a
    # stage change past the mark is what makes a lead's row stale.
    reached_step = models.PositiveSmallIntegerField(verbose_name=_("reached step"), default=0)
    # The overview's funnel: when the lead was created (its first step) and, by its stage
    # history, first at each later step or one past it (empty: the history does not say).
    created_at = models.DateTimeField(verbose_name=_("created at"), null=True, blank=True)
    mql_at = models.DateTimeField(verbose_name=_("MQL at"), null=True, blank=True)
    sql_at = models.DateTimeField(verbose_name=_("SQL at"), null=True, blank=True)
    opportunity_at = models.DateTimeField(verbose_name=_("opportunity at"), null=True, blank=True)
    customer_at = models.DateTimeField(verbose_name=_("customer at"), null=True, blank=True)
    # The rule lift report: whether the lead has a won outcome, and the rules whose ledger
    # rows for it sum to something (their ids, ascending). A won outcome or a rule's
    # ledger row past the mark makes the row stale, as a stage change does.
    won = models.BooleanField(verbose_name=_("won"), default=False)
    scored_rules = models.JSONField(verbose_name=_("scored rules"), default=list, blank=True)
    # The funnel's days from step to step: each step's time less the one before it (empty:
    # the history does not say when the lead reached the step). Indexed, so the median's
    # middle hour (FunnelCount) is read by its durations alone.
    mql_after = models.DurationField(verbose_name=_("MQL after"), null=True, blank=True)
    sql_after = models.DurationField(verbose_name=_("SQL after"), null=True, blank=True)
    opportunity_after = models.DurationField(verbose_name=_("opportunity after"), null=True, blank=True)
    customer_after = models.DurationField(verbose_name=_("customer after"), null=True, blank=True)
    # The overview's groups now and histograms (ScoreCount): the lead's score group (its
    # id, not a relation: a group deleted since leaves its id here, which tells the overview
    # the kept counts are stale), fit and engagement scores when the rebuild read them.
    score_group_id = models.BigIntegerField(verbose_name=_("score group id"), null=True, blank=True)
    fit_score = models.IntegerField(verbose_name=_("fit score"), default=0)
    engagement_score = models.IntegerField(verbose_name=_("engagement score"), default=0)

    class Meta:
        verbose_name = _("lead origin")
        verbose_name_plural = _("lead origins")
        indexes = [
            *(
                models.Index(fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"origin_{name}_idx")
                for name in ("mql_after", "sql_after", "opportunity_after", "customer_after")
            ),
            # The source filter looks up each row's lead's source by its key: from the
            # index alone on PostgreSQL (the rows are wide), a fraction of a read of the row.
            models.Index(fields=["lead"], include=["source"], name="origin_lead_source_idx"),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.source or 'no source'}, {self.first_campaign or 'no campaign'}"


class RollupMark(models.Model):
    """How far a roll-up's last rebuild read: the highest interaction, stage change and
    lead ids it had settled. Rows past them are read live by the reports."""

    name = models.CharField(verbose_name=_("name"), max_length=50, unique=True)
    interaction_id = models.BigIntegerField(verbose_name=_("interaction id"))
    stage_change_id = models.BigIntegerField(verbose_name=_("stage change id"))
    lead_id = models.BigIntegerField(verbose_name=_("lead id"), default=0)
    score_entry_id = models.BigIntegerField(verbose_name=_("score entry id"), default=0)  # of a rule's ledger rows
    outcome_id = models.BigIntegerField(verbose_name=_("outcome id"), default=0)  # of won outcomes
    # The kept rows the rebuild counted into its sums.
    kept = models.BigIntegerField(verbose_name=_("kept"), default=0)
    transition_id = models.BigIntegerField(verbose_name=_("group transition id"), default=0)
    # How many leads had been erased (LeadErasures) when the rebuild began: more now means
    # a lead counted in the sums may be gone, and the reports read every lead live until
    # the next rebuild.
    erased_before = models.BigIntegerField(verbose_name=_("leads erased before the rebuild"), default=0)
    built_at = models.DateTimeField(verbose_name=_("built at"))

    class Meta:
        verbose_name = _("rollup mark")
        verbose_name_plural = _("rollup marks")

    def __str__(self) -> str:
        return f"{self.name}: interactions to {self.interaction_id}, stage changes to {self.stage_change_id}"


class RuleLiftCount(models.Model):
    """The rule lift report's sums, kept by the origins' rebuild (:mod:`reports.lift`, its
    only reader; :mod:`reports.origins`, its only writer): of the leads created on a day (in
    Leadflow's time zone) whose source is ``source``, how many there are and how many
    converted (``rule`` empty), or how many of them a rule scored and how many of those
    converted. They add up the kept lead origins exactly; the report takes the leads read
    live (changed since the rebuild) out of them and adds them back as they are now."""

    day = models.DateField(verbose_name=_("day"))
    source = models.CharField(verbose_name=_("source"), max_length=100, blank=True)
    rule = models.ForeignKey(
        ScoringRule, verbose_name=_("rule"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    leads = models.PositiveIntegerField(verbose_name=_("leads"))
    converted = models.PositiveIntegerField(verbose_name=_("converted"))

    class Meta:
        verbose_name = _("rule lift count")
        verbose_name_plural = _("rule lift counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "source", "rule"], condition=Q(rule__isnull=False), name="rulelift_one_per_rule"
            ),
            models.UniqueConstraint(
                fields=["day", "source"], condition=Q(rule__isnull=True), name="rulelift_one_for_all_leads"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.source or 'no source'} rule {self.rule_id or 'all'}: {self.leads} leads"


class FunnelCount(models.Model):
    """The overview's funnel counted over the kept lead origins, by the origins' rebuild
    (:mod:`reports.origins`, its only writer; :mod:`reports.funnel` reads it): with
    ``days`` empty, how many leads reached ``step`` as their furthest (0: none past "All
    leads"); with ``hours``, how many took from ``hours`` to less than ``hours`` + 1
    hours to reach ``step`` from the step before (:mod:`reports.medians`). A request takes the
    leads read live out of these sums and adds them back as they are now."""

    step = models.PositiveSmallIntegerField(verbose_name=_("step"))
    hours = models.IntegerField(verbose_name=_("hours"), null=True, blank=True)
    leads = models.PositiveIntegerField(verbose_name=_("leads"))

    class Meta:
        verbose_name = _("funnel count")
        verbose_name_plural = _("funnel counts")
        constraints = [
            models.UniqueConstraint(
                fields=["step", "hours"], condition=Q(hours__isnull=False), name="funnel_one_per_hour"
            ),
            models.UniqueConstraint(fields=["step"], condition=Q(hours__isnull=True), name="funnel_one_per_reached"),
        ]

    def __str__(self) -> str:
        return f"step {self.step}, hour {self.hours if self.hours is not None else 'reached'}: {self.leads} leads"


class ScoreCount(models.Model):
    """The overview's leads per score group and its fit and engagement histograms, counted
    over the kept lead origins by the origins' rebuild (:mod:`reports.origins`, its only
    writer; :mod:`reports.scores` reads it): how many leads had the group ``group_id``
    (empty: none), the fit score and the engagement score. A request takes the leads scored
    or moved between groups since the rebuild out of these sums and adds them back as they
    are now."""

    group_id = models.BigIntegerField(verbose_name=_("score group id"), null=True, blank=True)
    fit_score = models.IntegerField(verbose_name=_("fit score"))
    engagement_score = models.IntegerField(verbose_name=_("engagement score"))
    leads = models.PositiveIntegerField(verbose_name=_("leads"))

    class Meta:
        verbose_name = _("score count")
        verbose_name_plural = _("score counts")

    def __str__(self) -> str:
        return f"group {self.group_id}, fit {self.fit_score}, engagement {self.engagement_score}: {self.leads} leads"


class MqlMonthCount(models.Model):
    """The MQLs of each month (its first day, in Leadflow's time zone) by the stage history
    the origins' rebuild read (:mod:`reports.origins`, its only writer;
    :func:`reports.overview.mqls_against_target` reads it): the leads that reached MQL in
    the month, each once. A request takes out and adds back the months of the leads with a
    stage change since the rebuild."""

    month = models.DateField(verbose_name=_("month"), unique=True)
    leads = models.PositiveIntegerField(verbose_name=_("leads"))

    class Meta:
        verbose_name = _("MQL month count")
        verbose_name_plural = _("MQL month counts")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.leads} MQLs"


class LeadErasures(models.Model):
    """How many leads have been deleted (erased), counted as each is
    (:mod:`reports.signals`, its only writer): one row, made by the migration. A cheap
    sign that a lead the roll-ups count is gone (:class:`RollupMark`)."""

    count = models.BigIntegerField(verbose_name=_("count"), default=0)

    class Meta:
        verbose_name = _("lead erasures")
        verbose_name_plural = _("lead erasures")

    def __str__(self) -> str:
        return f"{self.count} leads erased"
