from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed
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

        # Rule matching reads numbers written as text in the site's language; it is pure, so
        # it is told the language's decimal mark, now and whenever the setting changes.
        _site_numbers()
        setting_changed.connect(_site_numbers_changed, dispatch_uid="scoring.site_numbers")


def _site_numbers() -> None:
    from scoring import localized, numbers

    numbers.site_decimal_set(localized.site_decimal_mark())


def _site_numbers_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("LANGUAGE_CODE", "FORMAT_MODULE_PATH"):
        _site_numbers()
