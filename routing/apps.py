from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing and sales"

    def ready(self) -> None:
        # Teams and routing rules are part of the scoring model file; scoring imports no
        # other app, so routing adds its section to the file here.
        from routing import model_file, sla, webhooks

        model_file.register()
        # Their set-aside rows are listed and retried in the admin, in any process.
        sla.register()
        webhooks.register()
