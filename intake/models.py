"""What other systems and anonymous sources come in with: API keys and their scopes,
and the web forms whose submissions are recorded. Leads and interactions themselves are
scoring's (intake stores them through :mod:`intake.ingest`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiScope(models.TextChoices):
    """What an API key may do. A key sent from browsers (a Segment write key) should
    hold ``events:write`` only: it is public there."""

    EVENTS_WRITE = "events:write", "Send events (API events, Segment-compatible endpoints)"
    LEADS_READ = "leads:read", "Read leads and their scores"
    LEADS_WRITE = "leads:write", "Create and update leads"
    LEADS_ERASE = "leads:erase", "Erase leads (privacy requests)"
    ENROLLMENTS_WRITE = "enrollments:write", "Enroll leads in nurture sequences and take them out"
    OUTCOMES_WRITE = "outcomes:write", "Report sales outcomes (opportunity created, won, lost) from a CRM"


def default_api_scopes() -> list[str]:
    return [ApiScope.EVENTS_WRITE.value]


class ApiKey(models.Model):
    """A key other systems send as ``Authorization: Bearer <key>``.

    Only a SHA-256 hash is stored (keys are 32 random bytes, so a slow hash
    adds nothing); the key itself is shown once, when it is created.
    """

    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'Website' or 'Email tool'.")
    scopes = models.JSONField(
        default=default_api_scopes,
        help_text="What the key may do (see ApiScope); a request outside them gets 403.",
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class TrackedForm(models.Model):
    """A web form whose submissions Leadflow records (public capture endpoint)."""

    key = models.SlugField(max_length=100, unique=True, help_text="Used in the form's action URL.")
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    lead_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Form fields copied to the lead (e.g. first_name, company, attributes.goal); "
        "the others are kept on the interaction.",
    )
    success_url = models.URLField(blank=True, help_text="Where the browser goes after submitting.")

    def __str__(self) -> str:
        return self.name
