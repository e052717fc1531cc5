"""Predictive scoring's tables: the trained models (versions), each lead's latest
probability with its reasons, and the settings marketers change."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scoring.models.leads import Lead


class TrainedModel(models.Model):
    """One trained version of the predictive model; the active one scores the leads."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    number = models.PositiveIntegerField(verbose_name=_("number"), unique=True, editable=False)
    status = models.CharField(
        verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.RETIRED, editable=False
    )
    algorithm = models.CharField(verbose_name=_("algorithm"), max_length=40, editable=False)
    metrics = models.JSONField(
        verbose_name=_("metrics"),
        default=dict,
        editable=False,
        help_text=_("AUC, Brier score, calibration, importance."),
    )
    features = models.JSONField(
        verbose_name=_("features"), default=list, editable=False, help_text=_("The features it reads, by name.")
    )
    excluded_columns = models.JSONField(verbose_name=_("excluded columns"), default=list, editable=False)
    leads = models.PositiveIntegerField(
        verbose_name=_("leads"), default=0, editable=False, help_text=_("Closed leads it learned from.")
    )
    data_from = models.DateTimeField(verbose_name=_("data from"), null=True, blank=True, editable=False)
    data_to = models.DateTimeField(verbose_name=_("data to"), null=True, blank=True, editable=False)
    training_seconds = models.FloatField(verbose_name=_("training seconds"), default=0.0, editable=False)
    # joblib bytes of scoring.predictive.model.PredictiveModel, written only by training here.
    fitted = models.BinaryField(verbose_name=_("fitted"), editable=False)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("trained model")
        verbose_name_plural = _("trained models")
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_trained_model"),
        ]

    def __str__(self) -> str:
        return gettext("Predictive model {number}").format(number=self.number)


class LeadPrediction(models.Model):
    """A lead's latest probability of converting, by the model that computed it."""

    lead = models.OneToOneField(
        Lead, verbose_name=_("lead"), primary_key=True, on_delete=models.CASCADE, related_name="prediction"
    )
    model = models.ForeignKey(
        TrainedModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    probability = models.FloatField(verbose_name=_("probability"))
    reasons = models.JSONField(verbose_name=_("reasons"), default=list)
    # The watched probabilities (in percent) the lead is above, with hysteresis: routing's
    # "probability rises above / falls below" fire when this set changes.
    above = models.JSONField(verbose_name=_("above"), default=list)
    computed_at = models.DateTimeField(verbose_name=_("computed at"))

    class Meta:
        verbose_name = _("lead prediction")
        verbose_name_plural = _("lead predictions")
        indexes = [models.Index(fields=["-probability"], name="leadprediction_probability_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.probability:.0%}"


class PredictiveSettings(models.Model):
    """One row (id 1): how predictive scoring retrains and what it leaves out."""

    min_new_outcomes = models.PositiveIntegerField(
        verbose_name=_("min new outcomes"),
        default=50,
        validators=[MinValueValidator(1)],
        help_text=_("Retrain when at least this many leads were won or lost since the active model was trained."),
    )
    excluded_columns = models.JSONField(
        verbose_name=_("excluded columns"),
        default=list,
        blank=True,
        help_text=(
            _(
                "Columns the model must not learn from, e.g. those sales fills in after talking to the lead"
                " (they give the outcome away). Custom attributes by their name."
            )
        ),
    )
    hysteresis_points = models.PositiveSmallIntegerField(
        verbose_name=_("hysteresis points"),
        default=5,
        validators=[MaxValueValidator(50)],
        help_text=_("A lead above a watched probability counts as falling below it only this many points lower."),
    )
    # Kept by routing: the probabilities (percent) its rules watch.
    watched_percents = models.JSONField(verbose_name=_("watched percents"), default=list, blank=True, editable=False)
    # How far the refresh after score changes has read: the last ledger row, and when it ran
    # (leads whose fields changed since are refreshed too).
    refreshed_through_entry = models.BigIntegerField(
        verbose_name=_("refreshed through entry"), default=0, editable=False
    )
    refreshed_at = models.DateTimeField(verbose_name=_("refreshed at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("predictive settings")
        verbose_name_plural = _("predictive settings")

    def __str__(self) -> str:
        return "Predictive scoring settings"
