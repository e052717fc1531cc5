"""What error reports may show: Django's debug page and error emails."""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

# A URL with anything before an "@" in its authority: user:password@, :password@ or a
# token@ (redis://:secret@host, postgres://user:secret@host/db, https://token@host).
_URL_WITH_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.\-]*://[^/?#\s]*@", re.IGNORECASE)


def has_credentials(value: str) -> bool:
    """Whether ``value`` holds a URL that carries credentials."""
    return _URL_WITH_CREDENTIALS.search(value) is not None


class CredentialsFilter(SafeExceptionReporterFilter):
    """Django hides settings and request.META entries *named* like secrets (PASSWORD,
    KEY, TOKEN…). DATABASE_URL, CELERY_BROKER_URL and the like are named like none of
    them, yet carry a password: any value holding a URL with credentials is hidden too,
    whatever its name. Under runserver and most WSGI servers request.META holds the
    process environment, so this covers the environment variables as well."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # str(): a lazy string (as django-axes puts in settings) passes for a str but is none.
        if isinstance(value, str) and has_credentials(str(value)):
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)
