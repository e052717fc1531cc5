from __future__ import annotations

from django.db import models

from routing.triggers import Trigger
from scoring.models import GroupTransition, LifecycleStage, ScoreGroup


class RoutingRule(models.Model):
    """When a lead's score crosses a border, do these actions (in order)."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Rules run in this order.")
    trigger = models.CharField(max_length=20, choices=[(t.value, t.value.replace("_", " ")) for t in Trigger])
    group = models.ForeignKey(ScoreGroup, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class RoutingAction(models.Model):
    class Kind(models.TextChoices):
        ENROLL = "enroll", "Enroll in a nurture sequence"
        EXIT_SEQUENCE = "exit_sequence", "Exit a nurture sequence"
        EXIT_ALL = "exit_all", "Exit every nurture sequence"
        SET_STAGE = "set_stage", "Set the lifecycle stage"

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    sequence = models.ForeignKey("nurture.Sequence", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=20, choices=LifecycleStage.choices, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.rule})"


class ActionRun(models.Model):
    """An action done for a transition: at most once, whatever re-runs."""

    transition = models.ForeignKey(GroupTransition, on_delete=models.CASCADE, related_name="+")
    action = models.ForeignKey(RoutingAction, on_delete=models.CASCADE, related_name="runs")
    done_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["transition", "action"], name="action_once_per_transition")]

    def __str__(self) -> str:
        return f"{self.action} for transition {self.transition_id}: {self.outcome}"
