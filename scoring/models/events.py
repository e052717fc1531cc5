"""Event types: every type seen or declared, with how often and when it was seen, and
the Segment event names that map to each."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from scoring import event_types


def validate_type_name(value: str) -> None:
    problem = event_types.type_name_problem(value)
    if problem:
        raise ValidationError(problem)


class EventType(models.Model):
    """One row per type name: the built-in ones, those declared (model file, admin) and
    every one seen. Intake adds to ``seen_count`` and widens the seen dates once per
    stored batch, so the admin's list never counts the interactions."""

    key = models.CharField(
        _("type"),
        max_length=event_types.MAX_LENGTH,
        unique=True,
        validators=[validate_type_name],
        help_text=format_lazy(
            _(
                "The name senders use: lowercase letters, digits, - and _, starting with a letter or digit, "
                "at most {length} characters."
            ),
            length=event_types.MAX_LENGTH,
        ),
    )
    label = models.CharField(
        verbose_name=_("label"), max_length=event_types.MAX_LABEL_LENGTH, blank=True, help_text=_("The type in words.")
    )
    declared = models.BooleanField(
        verbose_name=_("declared"),
        default=False,
        help_text=_("Named in the model file or the admin (not only seen in interactions)."),
    )
    seen_count = models.BigIntegerField(_("interactions"), default=0, editable=False)
    first_seen_at = models.DateTimeField(_("first seen"), null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = _("event types")
        ordering = ["key"]
        verbose_name = _("event type")

    def __str__(self) -> str:
        return self.key

    @property
    def built_in(self) -> bool:
        return self.key in event_types.BUILT_IN

    @property
    def words(self) -> str:
        return self.label or event_types.BUILT_IN.get(self.key, "")


class SegmentEvent(models.Model):
    """A Segment ``track`` event name and the type it records (matched ignoring case)."""

    name = models.CharField(
        _("Segment event name"), max_length=event_types.MAX_NAME_LENGTH, help_text=_('As sent, e.g. "Trial Started".')
    )
    event_type = models.ForeignKey(
        EventType, verbose_name=_("event type"), on_delete=models.CASCADE, related_name="segment_events"
    )

    class Meta:
        verbose_name_plural = _("Segment event names")
        ordering = [Lower("name")]
        verbose_name = _("Segment event name")
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="segment_event_name_unique",
                violation_error_message=_("This Segment event name already maps to a type."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.event_type_id}"

    def clean(self) -> None:
        self.name = self.name.strip()
        if not self.name:
            raise ValidationError({"name": _("Give the event name as Segment sends it.")})
