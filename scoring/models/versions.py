"""Versions of the scoring model: drafts a marketer edits, the live one the
engine scores with, the history of what was published, by whom and why, and
replays of a version over past interactions."""

from __future__ import annotations

from typing import TypeVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from scoring import sentences
from scoring.models.design import DecayPolicy, ScoreGroup, ScoringRule

# The longest window a replay may cover (ten years).
REPLAY_DAYS_MAX = 3650

_M = TypeVar("_M", bound=models.Model)


class DraftManager(models.Manager[_M]):
    """Drafts' rows only (``version`` set)."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(version__isnull=False)


class ModelVersion(models.Model):
    """One version of the scoring model (score groups, rules, decay, event types).

    The live version is what the engine scores with; a draft is edited and can be
    replayed over past interactions before it is published; a retired version was
    live once and can be restored as a new draft. ``spec`` holds the version as
    model-file data (the scoring part), frozen when it is published.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        LIVE = "live", _("Live")
        RETIRED = "retired", _("Published earlier")

    number = models.PositiveIntegerField(
        verbose_name=_("number"),
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_("Given when published: 1, 2, 3…"),
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    name = models.CharField(
        verbose_name=_("name"), max_length=200, blank=True, help_text=_("What this version changes, in a few words.")
    )
    note = models.TextField(
        verbose_name=_("note"), blank=True, help_text=_("Why it was published, for whoever reads the history.")
    )
    spec = models.JSONField(
        verbose_name=_("spec"), null=True, blank=True, editable=False, help_text=_("The version as model-file data.")
    )
    based_on = models.ForeignKey(
        "self",
        verbose_name=_("based on"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    published_at = models.DateTimeField(verbose_name=_("published at"), null=True, blank=True, editable=False)
    event_types = models.JSONField(
        verbose_name=_("event types"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "A draft's event types and the Segment event names mapped to them (model-file data), "
            "declared when it is published; empty on drafts made before event types were versioned: "
            "the live ones stay."
        ),
    )
    base_spec = models.JSONField(
        verbose_name=_("base spec"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "A draft's: the live model (model-file data) when the draft was made; "
            "publishing refuses when the live model changed since."
        ),
    )

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["-published_at", "-created_at", "-id"]
        permissions = [("publish_modelversion", "Can publish a model version (make a draft live)")]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="live"), name="one_live_model_version"),
        ]

    def __str__(self) -> str:
        if self.number is not None:
            if self.name:
                return gettext("Version {number}: {name}").format(number=self.number, name=self.name)
            return gettext("Version {number}").format(number=self.number)
        if self.name:
            return gettext("Draft: {name}").format(name=self.name)
        return gettext("Draft #{id}").format(id=self.pk)

    def english_name(self) -> str:
        """The name in English, for what is stored or is English whatever the reader's
        language (a restore's name, the model's errors, the command line); ``str()`` is
        the reader's, for pages."""
        with translation.override("en"):
            return str(self)


class ReplayRun(models.Model):
    """A replay of a version over the last ``days`` days of interactions, beside the live
    model: what each would have scored, never written to live scores (see
    :mod:`scoring.services.replay`). Both models are frozen when the replay is started,
    with the instant its window ends, so running it again gives the same result."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    version = models.ForeignKey(
        ModelVersion,
        verbose_name=_("version"),
        on_delete=models.CASCADE,
        related_name="replays",
        help_text=_("The version to replay."),
    )
    days = models.PositiveIntegerField(
        verbose_name=_("days"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(REPLAY_DAYS_MAX)],
        help_text=_("Replay the interactions of this many days before now."),
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED, editable=False
    )
    progress = models.PositiveSmallIntegerField(
        verbose_name=_("progress"), default=0, editable=False, help_text=_("Percent of the leads done.")
    )
    cancel_requested = models.BooleanField(verbose_name=_("cancel requested"), default=False, editable=False)
    window_end = models.DateTimeField(verbose_name=_("window end"), null=True, blank=True, editable=False)
    live_spec = models.JSONField(verbose_name=_("live spec"), null=True, blank=True, editable=False)
    draft_spec = models.JSONField(verbose_name=_("draft spec"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True, editable=False)
    error = models.TextField(verbose_name=_("error"), blank=True, editable=False)
    # The error as scoring.said keeps it, shown in the reader's language; empty on runs that
    # failed before it was kept and on errors from outside (shown as they came).
    error_said = models.JSONField(verbose_name=_("error's sentence"), null=True, blank=True, editable=False)
    result = models.JSONField(verbose_name=_("result"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("replay")
        verbose_name_plural = _("replays")

    def __str__(self) -> str:
        return ngettext(
            "Replay {id}: {version} over {days} day", "Replay {id}: {version} over {days} days", self.days
        ).format(id=self.pk, version=self.version, days=self.days)

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED)

    def error_shown(self) -> str:
        """Why it failed, in the reader's language (as stored, on older runs)."""
        return sentences.shown(self.error, self.error_said)


class DraftScoreGroup(ScoreGroup):
    """A draft's score groups, edited in the admin apart from the live ones."""

    objects = DraftManager()  # type: ignore[assignment,misc]

    class Meta:
        verbose_name_plural = _("draft score groups")
        proxy = True
        verbose_name = _("draft score group")


class DraftScoringRule(ScoringRule):
    """A draft's rules, edited in the admin apart from the live ones."""

    objects = DraftManager()  # type: ignore[assignment,misc]

    class Meta:
        verbose_name_plural = _("draft rules")
        proxy = True
        verbose_name = _("draft rule")


class DraftDecayPolicy(DecayPolicy):
    """A draft's decay policy."""

    objects = DraftManager()  # type: ignore[assignment,misc]

    class Meta:
        proxy = True
        verbose_name = _("draft decay policy")
        verbose_name_plural = _("draft decay policies")
