from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Intake"

    def ready(self) -> None:
        # Services enqueue tasks by name; importing the tasks registers them in every process.
        from intake import tasks  # noqa: F401
