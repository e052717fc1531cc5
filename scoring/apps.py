from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = _("Scoring")

    def ready(self) -> None:
        # Campaigns stand in the model file as a section of their own, like other apps' parts.
        from scoring.services import campaigns

        campaigns.register()
        # The admin's lead search (id__lead_search), on the lead list and on lists of a lead's rows.
        from scoring import lead_search

        lead_search.register()
        # Services enqueue tasks by name; importing the tasks registers them, with the
        # options they are declared with (expiry), in every process, web ones too.
        from scoring import tasks  # noqa: F401
