from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from scoring.models import Lead, ScoreGroup, ScoringRule


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
    """How many leads were in a score group (``group`` empty: in none) at the end of a
    day, in Leadflow's time zone: the overview's 90-day trend. A nightly task fills it
    from the group transitions (:mod:`reports.snapshots`, its only writer); every day it
    covers has a row for each group and one for no group, zeros included, so a day
    without rows is a day not yet counted."""

    day = models.DateField()
    group = models.ForeignKey(ScoreGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    leads = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("daily group count")
        verbose_name_plural = _("daily group counts")
        ordering = ["day", "group"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "group"], condition=Q(group__isnull=False), name="daily_one_per_group"
            ),
            models.UniqueConstraint(fields=["day"], condition=Q(group__isnull=True), name="daily_one_without_group"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.leads} leads in {self.group or 'no group'}"


class MqlTarget(models.Model):
    """Marketing's side of the agreement with sales: how many MQLs it commits to deliver
    in a month. The overview shows each month's target against the leads that reached
    MQL in it (:func:`reports.overview.mqls_against_target`). Marketing edits it in the
    admin."""

    month = models.DateField(unique=True, help_text=_("The month, written YYYY-MM (kept as its first day)."))
    target = models.PositiveIntegerField(help_text=_("MQLs marketing commits to deliver to sales in the month."))

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

    lead = models.OneToOneField(Lead, primary_key=True, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=100, blank=True)
    first_campaign = models.TextField(blank=True)  # "": no campaign touch
    first_campaign_at = models.DateTimeField(null=True, blank=True)
    last_campaign = models.TextField(blank=True)
    last_campaign_at = models.DateTimeField(null=True, blank=True)
    # The furthest step of the overview's funnel the lead reached (0: none past "All
    # leads"; 1 MQL … 4 customer) by its stage history or its stage now. Every change of
    # stage records a stage change (scoring's services do, in the same transaction), so a
    # stage change past the mark is what makes a lead's row stale.
    reached_step = models.PositiveSmallIntegerField(default=0)
    # The overview's funnel: when the lead was created (its first step) and, by its stage
    # history, first at each later step or one past it (empty: the history does not say).
    created_at = models.DateTimeField(null=True, blank=True)
    mql_at = models.DateTimeField(null=True, blank=True)
    sql_at = models.DateTimeField(null=True, blank=True)
    opportunity_at = models.DateTimeField(null=True, blank=True)
    customer_at = models.DateTimeField(null=True, blank=True)
    # The rule lift report: whether the lead has a won outcome, and the rules whose ledger
    # rows for it sum to something (their ids, ascending). A won outcome or a rule's
    # ledger row past the mark makes the row stale, as a stage change does.
    won = models.BooleanField(default=False)
    scored_rules = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("lead origin")
        verbose_name_plural = _("lead origins")

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.source or 'no source'}, {self.first_campaign or 'no campaign'}"


class RollupMark(models.Model):
    """How far a roll-up's last rebuild read: the highest interaction, stage change and
    lead ids it had settled. Rows past them are read live by the reports."""

    name = models.CharField(max_length=50, unique=True)
    interaction_id = models.BigIntegerField()
    stage_change_id = models.BigIntegerField()
    lead_id = models.BigIntegerField(default=0)
    score_entry_id = models.BigIntegerField(default=0)  # of a rule's ledger rows
    outcome_id = models.BigIntegerField(default=0)  # of won outcomes
    # The kept rows the rebuild counted into its sums (RuleLiftCount): fewer now means a
    # lead was erased since, and the sums still count it.
    kept = models.BigIntegerField(default=0)
    built_at = models.DateTimeField()

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

    day = models.DateField()
    source = models.CharField(max_length=100, blank=True)
    rule = models.ForeignKey(ScoringRule, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    leads = models.PositiveIntegerField()
    converted = models.PositiveIntegerField()

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
