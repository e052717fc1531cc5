"""What other systems and anonymous sources come in with: API keys and their scopes,
and the web forms whose submissions are recorded. Leads and interactions themselves are
scoring's (intake stores them through :mod:`intake.ingest`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _

from scoring import sentences


class ApiScope(models.TextChoices):
    """What an API key may do. A key sent from browsers (a Segment write key) should
    hold ``events:write`` only: it is public there."""

    # Labels in the reader's language on the admin's pages; English in the API's description.
    EVENTS_WRITE = "events:write", _("Send events (API events, Segment-compatible endpoints)")
    LEADS_READ = "leads:read", _("Read leads and their scores")
    LEADS_WRITE = "leads:write", _("Create and update leads")
    LEADS_ERASE = "leads:erase", _("Erase leads (privacy requests)")
    ENROLLMENTS_WRITE = "enrollments:write", _("Enroll leads in nurture sequences and take them out")
    OUTCOMES_WRITE = "outcomes:write", _("Report sales outcomes (opportunity created, won, lost) from a CRM")

    @property
    def english_label(self) -> str:
        """The label in English, as the API's texts are whatever the caller's language."""
        with translation.override("en"):
            return str(self.label)


def default_api_scopes() -> list[str]:
    return [ApiScope.EVENTS_WRITE.value]


class ApiKey(models.Model):
    """A key other systems send as ``Authorization: Bearer <key>``.

    Only a SHA-256 hash is stored (keys are 32 random bytes, so a slow hash
    adds nothing); the key itself is shown once, when it is created.
    """

    name = models.CharField(
        verbose_name=_("name"), max_length=100, help_text=_("Who uses it, e.g. 'Website' or 'Email tool'.")
    )
    scopes = models.JSONField(
        verbose_name=_("scopes"),
        default=default_api_scopes,
        help_text=_("What the key may do (see ApiScope); a request outside them gets 403."),
    )
    public = models.BooleanField(
        verbose_name=_("used in web pages"),
        default=False,
        db_default=False,
        help_text=_(
            "A key in a web page's code (a Segment or RudderStack write key), where anyone can read it: it may "
            "only send events, through the Segment and RudderStack endpoints, and its requests are counted per "
            "address and its messages per lead, as the tracking endpoints' are."
        ),
    )
    prefix = models.CharField(verbose_name=_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(verbose_name=_("key hash"), max_length=64, editable=False)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_used_at = models.DateTimeField(verbose_name=_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(verbose_name=_("revoked at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = _("API keys")
        verbose_name = _("API key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class TrackedForm(models.Model):
    """A web form whose submissions Leadflow records (public capture endpoint)."""

    key = models.SlugField(
        verbose_name=_("key"), max_length=100, unique=True, help_text=_("Used in the form's action URL.")
    )
    name = models.CharField(verbose_name=_("name"), max_length=200)
    active = models.BooleanField(verbose_name=_("active"), default=True)
    lead_fields = models.JSONField(
        verbose_name=_("lead fields"),
        default=list,
        blank=True,
        help_text=_(
            "Form fields copied to the lead (e.g. first_name, company, attributes.goal) where it has no "
            "value yet: anyone may post a form, so a post never changes a value the lead has. The others "
            "are kept on the interaction."
        ),
    )
    success_url = models.URLField(
        verbose_name=_("success URL"), blank=True, help_text=_("Where the browser goes after submitting.")
    )

    class Meta:
        verbose_name = _("tracked form")
        verbose_name_plural = _("tracked forms")

    def __str__(self) -> str:
        return self.name


class LeadImport(models.Model):
    """A CSV file of leads being imported (intake.imports): the file and its mapping as
    given, how far the import is, its counts, and the first rows it set aside."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    # The row errors kept on the record: the counts say how many there were in all.
    ERRORS_KEPT = 500

    file_name = models.CharField(verbose_name=_("file name"), max_length=255)
    data = models.BinaryField(verbose_name=_("data"), editable=False, help_text=_("The CSV file as uploaded."))
    mapping = models.TextField(verbose_name=_("mapping"), help_text=_("The column mapping (YAML)."))
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(verbose_name=_("total rows"), default=0)
    done_rows = models.PositiveIntegerField(verbose_name=_("done rows"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    set_aside_count = models.PositiveIntegerField(_("set aside"), default=0)
    outcomes_count = models.PositiveIntegerField(_("outcomes recorded"), default=0)
    errors = models.JSONField(
        verbose_name=_("errors"), default=list, blank=True, help_text=_("Rows set aside: row, column, reason, value.")
    )
    failure = models.TextField(
        verbose_name=_("failure"), blank=True, help_text=_("Why the whole file could not be imported.")
    )
    # The failure as scoring.said keeps it, shown in the reader's language; empty on older rows.
    failure_said = models.JSONField(verbose_name=_("failure's sentence"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name_plural = _("lead imports")
        verbose_name = _("lead import")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        if not self.created_at:
            return self.file_name
        # The site's clock in the reader's format, as the page's fields show the time.
        uploaded = formats.date_format(timezone.localtime(self.created_at), "SHORT_DATETIME_FORMAT")
        return f"{self.file_name} ({uploaded})"

    def failure_shown(self) -> str:
        """Why the file was refused, in the reader's language (an older row's as stored)."""
        return sentences.shown(self.failure, self.failure_said)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done_rows / self.total_rows) if self.total_rows else 0
