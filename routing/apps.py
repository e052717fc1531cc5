from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("Routing and sales")

    def ready(self) -> None:
        # Teams and routing rules are part of the scoring model file; scoring imports no
        # other app, so routing adds its section to the file here.
        from routing import model_file, sla, timeline, webhooks

        model_file.register()
        timeline.register()
        # Their set-aside rows are listed and retried in the admin, in any process.
        sla.register()
        webhooks.register()
        # Outcomes other systems report come in through intake's API, which cannot import
        # routing: routing hands scoring the function that records them.
        from routing import sales
        from scoring import outcomes

        outcomes.register_recorder(sales.outcome_report)
        outcomes.register_batch_recorder(sales.outcomes_report)
        # What replay and predictive training learn from: how each lead's story ended.
        from routing import selectors

        outcomes.register_closed_outcomes(selectors.leads_closed)
        # Services enqueue tasks by name; importing the tasks registers them, with the
        # options they are declared with (expiry), in every process, web ones too.
        from routing import tasks  # noqa: F401
