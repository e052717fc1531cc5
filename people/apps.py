from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PeopleConfig(AppConfig):
    name = "people"
    verbose_name = _("People's preferences")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from people import languages

        user_logged_in.connect(languages.remember_on_login, dispatch_uid="people.remember_on_login")
