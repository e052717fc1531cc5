from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "nurture"
    verbose_name = "Nurture"

    def ready(self) -> None:
        # Services enqueue tasks by name; importing the tasks registers them, with the
        # options they are declared with (expiry), in every process, web ones too.
        from nurture import tasks  # noqa: F401
