from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from scoring.models import ScoreGroup


class Report(models.Model):
    """No table: holds the permission to read the overview and the reports, which
    Marketing has and sales managers have (read-only, like every report)."""

    class Meta:
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
        ordering = ["-month"]
        verbose_name = "MQL target"
        constraints = [models.CheckConstraint(condition=Q(month__day=1), name="mqltarget_first_day_of_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.target} MQLs"
