from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    """The overview, the closed-loop reports, their nightly snapshots and CSV export.
    Reads every app; no app imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from reports.signals import lead_deleted
        from scoring.models import Lead

        post_delete.connect(lead_deleted, sender=Lead, dispatch_uid="reports_lead_deleted")
