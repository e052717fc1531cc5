from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NurtureConfig(AppConfig):
    name = "nurture"
    verbose_name = _("Nurture")

    def ready(self) -> None:
        # Sequences may stand in the scoring model file; scoring imports no other app, so
        # nurture adds its section to the file here.
        from nurture import model_file, timeline

        model_file.register()
        # The lead's timeline in the admin shows enrollments and emails sent.
        timeline.register()
        # Services enqueue tasks by name; importing the tasks registers them, with the
        # options they are declared with (expiry), in every process, web ones too.
        from nurture import tasks  # noqa: F401
