from django.db import models


class Report(models.Model):
    """No table: holds the permission to read the overview and the reports, which
    Marketing has and sales managers have (read-only, like every report)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_reports", "Can read the overview and the reports")]

    def __str__(self) -> str:
        return "Reports"
