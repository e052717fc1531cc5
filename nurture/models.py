"""Nurture sequences: ordered email steps a lead is enrolled in, and each step's delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from nurture import content, goals, sequence_file, timing
from scoring import sentences
from scoring.models import Lead, ScoreGroup

# The labels are marked in nurture.goals (pure) and translated here, for the admin.
EXIT_REASON_CHOICES = [(reason.value, _(goals.EXIT_REASON_LABELS[reason])) for reason in goals.ExitReason]


def _all_weekdays() -> list[int]:
    return list(range(7))


class Sequence(models.Model):
    class Reenroll(models.TextChoices):
        NEVER = goals.ReenrollPolicy.NEVER.value, _(goals.REENROLL_LABELS[goals.ReenrollPolicy.NEVER])
        AFTER_ENDED = (
            goals.ReenrollPolicy.AFTER_ENDED.value,
            _(goals.REENROLL_LABELS[goals.ReenrollPolicy.AFTER_ENDED]),
        )
        ALWAYS = goals.ReenrollPolicy.ALWAYS.value, _(goals.REENROLL_LABELS[goals.ReenrollPolicy.ALWAYS])

    key = models.SlugField(
        verbose_name=_("key"),
        max_length=sequence_file.MAX_KEY,
        unique=True,
        help_text=_("Stable name used in sequence files and routing."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=sequence_file.NAME_MAX_LENGTH)
    description = models.TextField(verbose_name=_("description"), blank=True)
    active = models.BooleanField(
        verbose_name=_("active"),
        default=True,
        help_text=_("Inactive: nothing is sent and nobody is enrolled; enrollments wait."),
    )
    # Exit goals (checked before every step; unsubscribing always exits).
    exit_on_group_reached = models.ForeignKey(
        ScoreGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("exit when reaching group"),
        help_text=_("The lead exits on reaching this group or a higher one."),
    )
    exit_on_group_left = models.ForeignKey(
        ScoreGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("exit when not in group"),
        help_text=_("The lead exits when it is not (or no longer) in this group."),
    )
    exit_on_conversion = models.BooleanField(
        default=True, verbose_name=_("exit when converted"), help_text=_("Lifecycle stage becomes customer.")
    )
    exit_on_sales = models.BooleanField(
        default=True,
        verbose_name=_("exit when routed to sales"),
        help_text=_("Lifecycle stage SQL or opportunity, or an owner is set."),
    )
    reenroll = models.CharField(
        _("re-enrollment"), max_length=20, choices=Reenroll.choices, default=Reenroll.AFTER_ENDED
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sequence")
        verbose_name_plural = _("sequences")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def exit_goals(self) -> goals.Goals:
        """The exit goals as plain data (select_related the two groups to avoid queries)."""
        reached = self.exit_on_group_reached
        return goals.Goals(
            reach_group_id=self.exit_on_group_reached_id,
            reach_min_score=reached.min_score if reached is not None else None,
            leave_group_id=self.exit_on_group_left_id,
            on_conversion=self.exit_on_conversion,
            on_sales=self.exit_on_sales,
        )


class Step(models.Model):
    sequence = models.ForeignKey(Sequence, verbose_name=_("sequence"), on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(
        verbose_name=_("position"),
        validators=[MinValueValidator(1)],
        help_text=_("Steps go out in this order (1 first)."),
    )
    wait_days = models.PositiveIntegerField(
        verbose_name=_("wait days"),
        default=0,
        validators=[MaxValueValidator(timing.WAIT_DAYS_MAX, _("At most %(limit_value)s days (ten years)."))],
    )
    wait_hours = models.PositiveIntegerField(
        verbose_name=_("wait hours"),
        default=0,
        validators=[MaxValueValidator(timing.WAIT_HOURS_MAX, _("At most %(limit_value)s hours (ten years)."))],
        help_text=_("Wait after the previous step went out (after enrollment, for the first)."),
    )
    send_hour_start = models.PositiveSmallIntegerField(
        verbose_name=_("send hour start"),
        default=0,
        validators=[MaxValueValidator(23)],
        help_text=_("Earliest local hour to send (0-23)."),
    )
    send_hour_end = models.PositiveSmallIntegerField(
        verbose_name=_("send hour end"),
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text=_("Send before this local hour (1-24); below the start hour it wraps past midnight."),
    )
    send_weekdays = models.JSONField(
        verbose_name=_("send weekdays"),
        default=_all_weekdays,
        help_text=_("Days to send on, 0 = Monday … 6 = Sunday, in the lead's time zone."),
    )
    subject_template = models.CharField(_("subject"), max_length=sequence_file.SUBJECT_MAX_LENGTH)
    text_template = models.TextField(_("text body"), help_text=_("Django template language, plain text."))
    html_template = models.TextField(
        _("HTML body"),
        blank=True,
        help_text=_("Django template language, autoescaped; placed inside the HTML layout. Empty: text only."),
    )
    campaign = models.SlugField(
        verbose_name=_("campaign"),
        max_length=100,
        blank=True,
        help_text=_("Campaign key on the opens and clicks (default: the sequence key)."),
    )
    language = models.CharField(
        verbose_name=_("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("The language of the subject and bodies above (empty: the site's language)."),
    )
    # The step in other languages: {"es": {"subject": …, "text": …, "html": …}}. A lead whose
    # `language` attribute is one of them gets that version; any other lead, the site's language.
    translations = models.JSONField(verbose_name=_("translations"), default=dict, blank=True)

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="nurture_step_position_unique"),
        ]

    def __str__(self) -> str:
        return gettext("{sequence} step {position}").format(sequence=self.sequence.key, position=self.position)

    @property
    def wait(self) -> timedelta:
        return timing.wait_of(days=self.wait_days, hours=self.wait_hours)

    def window(self) -> timing.Window:
        return timing.Window(self.send_hour_start, self.send_hour_end, frozenset(self.send_weekdays or ()))

    def campaign_key(self) -> str:
        return self.campaign or self.sequence.key

    def version_for(self, lead_language: str | None) -> StepVersion:
        """The content a lead gets: the version in the lead's language if the step has one,
        else the version in the site's language, else the step's own content."""
        own = StepVersion(
            self.language or content.site_language(), self.subject_template, self.text_template, self.html_template
        )
        for wanted in (content.language_code(lead_language), content.site_language()):
            if wanted is None:
                continue
            if wanted == own.language:
                return own
            version = (self.translations or {}).get(wanted)
            if isinstance(version, dict) and version.get("subject") and version.get("text"):
                return StepVersion(wanted, version["subject"], version["text"], version.get("html") or "")
        return own


@dataclass(frozen=True)
class StepVersion:
    language: str
    subject: str
    text: str
    html: str


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Exited")

    OPEN_STATUSES = (Status.ACTIVE, Status.PAUSED)

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="enrollments")
    # PROTECT: deactivate a sequence instead of deleting its history.
    sequence = models.ForeignKey(
        Sequence, verbose_name=_("sequence"), on_delete=models.PROTECT, related_name="enrollments"
    )
    position = models.PositiveSmallIntegerField(
        verbose_name=_("position"),
        default=0,
        help_text=_("Position of the last step sent (0: none yet); the next step is the one after it."),
    )
    next_run_at = models.DateTimeField(
        verbose_name=_("next run at"), null=True, blank=True, help_text=_("When the next step is due (active only).")
    )
    status = models.CharField(verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    exit_reason = models.CharField(
        verbose_name=_("exit reason"), max_length=30, choices=EXIT_REASON_CHOICES, blank=True
    )
    enrolled_at = models.DateTimeField(verbose_name=_("enrolled at"))
    ended_at = models.DateTimeField(verbose_name=_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            # At most one open (active or paused) enrollment per lead and sequence.
            models.UniqueConstraint(
                fields=["lead", "sequence"],
                condition=Q(status__in=["active", "paused"]),
                name="nurture_one_open_enrollment",
            ),
        ]
        indexes = [
            # What the sender claims: due active enrollments, oldest first.
            models.Index(fields=["next_run_at"], condition=Q(status="active"), name="nurture_enrollment_due_idx"),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} in {self.sequence_id} ({self.status})"


class Delivery(models.Model):
    """One step sent (or being sent) to one enrollment: at most one per step.

    The row is committed as ``pending`` before the message goes out, so a
    re-run never sends it again; a ``pending`` row older than the claim lease
    means the sender died mid-batch, and becomes ``unknown`` (not re-sent).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED_TEMPORARY = "failed_temporary", _("Failed (will retry)")
        FAILED_PERMANENT = "failed_permanent", _("Failed permanently")
        BOUNCED = "bounced", _("Bounced")
        UNKNOWN = "unknown", _("Unknown (sender stopped mid-send)")

    enrollment = models.ForeignKey(
        Enrollment, verbose_name=_("enrollment"), on_delete=models.CASCADE, related_name="deliveries"
    )
    # PROTECT: a step that was delivered keeps its figures; the admin says so.
    step = models.ForeignKey(Step, verbose_name=_("step"), on_delete=models.PROTECT, related_name="deliveries")
    message_id = models.CharField(verbose_name=_("message id"), max_length=200, unique=True)
    status = models.CharField(verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(verbose_name=_("attempts"), default=0)
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)
    opens = models.PositiveIntegerField(verbose_name=_("opens"), default=0)
    clicks = models.PositiveIntegerField(verbose_name=_("clicks"), default=0)
    error = models.TextField(verbose_name=_("error"), blank=True)
    # The error as scoring.said keeps it, shown in the reader's language; empty on older rows.
    error_said = models.JSONField(verbose_name=_("error's sentence"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(verbose_name=_("created at"))
    updated_at = models.DateTimeField(verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="nurture_delivery_once_per_step"),
        ]
        indexes = [models.Index(fields=["step", "status"], name="nurture_delivery_step_idx")]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"

    def error_shown(self) -> str:
        """The error in the reader's language (as stored on a row written before that was kept)."""
        return sentences.shown(self.error, self.error_said)


class EngagementCursor(models.Model):
    """How far opens and clicks have been tallied onto deliveries (one row).

    ``last_id``: every email interaction with a smaller id has been counted.
    """

    last_id = models.BigIntegerField(verbose_name=_("last id"), default=0)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("engagement cursor")
        verbose_name_plural = _("engagement cursors")

    def __str__(self) -> str:
        return f"engagement tallied up to interaction {self.last_id}"
