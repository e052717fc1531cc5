from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = _("Intake")

    def ready(self) -> None:
        # Services enqueue tasks by name; importing the tasks registers them in every process.
        from intake import tasks  # noqa: F401
