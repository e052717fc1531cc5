"""The scoring model marketers design: its name, score groups, rules and their
conditions, the decay policy, and the scores routing watches."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q, Sum
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from scoring import campaign_file, decay, model_file, score_bounds, sentences
from scoring import rules as pure
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN

_M = TypeVar("_M", bound=models.Model)


class LiveManager(models.Manager[_M]):
    """The live model's rows only (``version`` empty): what the engine, reports and every
    other reader see by default, so a draft's rows never score anything. Drafts are read
    through ``all_versions`` (or the admin's draft pages)."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(version__isnull=True)


class AllVersionsManager(models.Manager[_M]):
    """Every row: the live model's and every draft's (a row's ``version`` tells which)."""


class DefaultScorecardManager(LiveManager[_M]):
    """The live model's rows of the default scorecard (``scorecard`` empty): today's single
    score, which every reader that knows nothing of scorecards (reports, routing, nurture,
    the admin's lists) keeps seeing. The other scorecards' rows are read through
    ``every_scorecard``."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(scorecard__isnull=True)


class CheckedOnEveryRow(models.Model):
    """A design row (live or a draft's, on any scorecard) whose unique constraints are checked
    against every row before it is saved, on the field they are about. Django's own check
    leaves a constraint out when the form lacks a field it names (``version`` is no form's
    field) and reads the default manager (the default scorecard's live rows only), so a
    clash reached the database: a 500 in the admin instead of an error on the key."""

    class Meta:
        abstract = True

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        hidden = set(exclude or ())
        # The row's version and scorecard are set before it is checked, whether a form shows them or not.
        exclude = hidden - {"version", "scorecard"}
        errors: dict[str, list[ValidationError]] = {}
        every_row = type(self)._meta.managers_map["all_versions"]
        # What Django's own constraint checks read a row's values from (a private method of theirs).
        values = self._get_field_expression_map(meta=self._meta, exclude=exclude)  # type: ignore[attr-defined]
        for constraint in self._meta.constraints:
            if not isinstance(constraint, models.UniqueConstraint) or not constraint.fields:
                try:
                    constraint.validate(type(self), self, exclude=exclude)  # type: ignore[attr-defined]
                except ValidationError as error:
                    errors = error.update_error_dict(errors)
                continue
            named = {name: self.serializable_value(name) for name in constraint.fields}
            if any(name in exclude for name in named) or None in named.values():
                continue  # a field the form does not check, or NULL: no two rows clash on it
            if constraint.condition is not None and not Q(constraint.condition).check(values):
                continue  # the row is not one the constraint is about (a draft's, under a live-only one)
            clash = every_row.filter(**named)
            if constraint.condition is not None:
                clash = clash.filter(constraint.condition)
            if not self._state.adding:
                clash = clash.exclude(pk=self.pk)
            if clash.exists():
                shown = [name for name in constraint.fields if name not in hidden]
                field = shown[-1] if shown else NON_FIELD_ERRORS
                errors.setdefault(field, []).append(
                    ValidationError(constraint.get_violation_error_message(), code="unique")
                )
        if errors:
            raise ValidationError(errors)


def _scorecard_field(
    on_delete: Callable[..., None], related_name: str
) -> models.ForeignKey[Scorecard | None, Scorecard | None]:
    return models.ForeignKey(
        "scoring.Scorecard",
        null=True,
        blank=True,
        on_delete=on_delete,
        related_name=related_name,
        verbose_name=_("scorecard"),
        help_text=_("The scorecard this belongs to; empty for the default scorecard."),
    )


def _version_field() -> models.ForeignKey:  # type: ignore[type-arg]
    return models.ForeignKey(
        "scoring.ModelVersion",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("version"),
        help_text=_("The draft this row belongs to; empty for the live model."),
    )


def _live_and_draft_unique(model: str, field: str, message: StrOrPromise) -> list[models.BaseConstraint]:
    """``field`` unique in the live model and within each draft (a draft may hold the live names)."""
    return [
        models.UniqueConstraint(
            fields=[field],
            condition=Q(version__isnull=True),
            name=f"{model}_live_{field}_unique",
            violation_error_message=message,
        ),
        models.UniqueConstraint(
            fields=["version", field], name=f"{model}_draft_{field}_unique", violation_error_message=message
        ),
    ]


# The key a model file, the API and the admin give the default scorecard (which has no row).
DEFAULT_SCORECARD_KEY = "default"


class Scorecard(CheckedOnEveryRow):
    """A named score beside the default one (e.g. one per product line), with rules, score
    groups and a decay policy of its own; a lead has a score on each (:class:`LeadScore`),
    kept in a ledger of its own (:class:`ScorecardEntry`). The default scorecard is the
    lead's own columns and has no row. A scorecard a model file leaves out is retired
    (``active`` off): it keeps its history but scores nothing."""

    key = models.SlugField(
        verbose_name=_("key"),
        max_length=model_file.SCORECARD_KEY_MAX_LENGTH,
        help_text=_("Stable name used in model files and the API."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=model_file.SCORECARD_NAME_MAX_LENGTH)
    description = models.TextField(verbose_name=_("description"), blank=True)
    active = models.BooleanField(
        verbose_name=_("active"),
        default=True,
        help_text=_("A retired scorecard keeps its leads' scores and history but scores nothing more."),
    )
    version = _version_field()

    objects = LiveManager()
    all_versions = AllVersionsManager()

    class Meta:
        verbose_name = _("scorecard")
        verbose_name_plural = _("scorecards")
        ordering = ["key"]
        constraints = [
            *_live_and_draft_unique("scorecard", "key", _("A scorecard with this key already exists.")),
            models.CheckConstraint(
                condition=~Q(key=DEFAULT_SCORECARD_KEY),
                name="scorecard_key_not_default",
                violation_error_message=_("'default' names the default scorecard: choose another key."),
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.key


class ScoreGroup(CheckedOnEveryRow):
    """A band of total score, from ``min_score`` up to the next group's threshold, on one
    scorecard. Keys are unique across the whole model (routing names a group by its key
    alone); thresholds are unique within a scorecard."""

    key = models.SlugField(
        verbose_name=_("key"),
        max_length=model_file.GROUP_KEY_MAX_LENGTH,
        help_text=_("Stable name used in model files."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=model_file.GROUP_NAME_MAX_LENGTH)
    min_score = models.IntegerField(
        verbose_name=_("min score"), help_text=_("Leads with at least this total score are in the group.")
    )
    leave_below = models.IntegerField(
        verbose_name=_("leave below"),
        null=True,
        blank=True,
        help_text=_(
            "Hysteresis: a lead in this group leaves it only when its total falls below this "
            "(at most the minimum score). Empty: leaves below the minimum score."
        ),
    )
    description = models.TextField(verbose_name=_("description"), blank=True)
    scorecard = _scorecard_field(models.CASCADE, "+")
    version = _version_field()

    objects = DefaultScorecardManager()
    every_scorecard = LiveManager()
    all_versions = AllVersionsManager()

    class Meta:
        verbose_name = _("score group")
        verbose_name_plural = _("score groups")
        ordering = ["min_score"]
        constraints = [
            *_live_and_draft_unique("scoregroup", "key", _("A score group with this key already exists.")),
            models.UniqueConstraint(
                fields=["min_score"],
                condition=Q(version__isnull=True, scorecard__isnull=True),
                name="scoregroup_live_min_score_unique",
                violation_error_message=_("Another score group has this minimum score."),
            ),
            models.UniqueConstraint(
                fields=["version", "min_score"],
                condition=Q(scorecard__isnull=True),
                name="scoregroup_draft_min_score_unique",
                violation_error_message=_("Another score group has this minimum score."),
            ),
            models.UniqueConstraint(
                fields=["scorecard", "min_score"],
                name="scoregroup_scorecard_min_score_unique",
                violation_error_message=_("Another score group of this scorecard has this minimum score."),
            ),
            models.CheckConstraint(
                condition=Q(leave_below__isnull=True) | Q(leave_below__lte=F("min_score")),
                name="group_leave_below_at_most_min",
                violation_error_message=_("'Leave below' must be at most the minimum score."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.min_score}+)"


DIMENSION_CHOICES = [(pure.Dimension.FIT.value, _("Fit")), (pure.Dimension.ENGAGEMENT.value, _("Engagement"))]


class ScoringRule(CheckedOnEveryRow):
    key = models.SlugField(
        verbose_name=_("key"),
        max_length=model_file.RULE_KEY_MAX_LENGTH,
        help_text=_("Stable name used in model files."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=model_file.RULE_NAME_MAX_LENGTH)
    description = models.TextField(verbose_name=_("description"), blank=True)
    dimension = models.CharField(
        verbose_name=_("dimension"),
        max_length=20,
        choices=DIMENSION_CHOICES,
    )
    points = models.IntegerField(verbose_name=_("points"), help_text=_("Negative points subtract."))
    match = models.CharField(
        verbose_name=_("match"),
        max_length=3,
        choices=[(pure.Match.ALL.value, _("all conditions")), (pure.Match.ANY.value, _("any condition"))],
        default=pure.Match.ALL.value,
    )
    interaction_types = models.JSONField(verbose_name=_("interaction types"), default=list, blank=True)
    cap_count = models.PositiveIntegerField(
        verbose_name=_("cap count"), null=True, blank=True, help_text=_("At most this many times per lead.")
    )
    cap_points = models.PositiveIntegerField(
        verbose_name=_("cap points"), null=True, blank=True, help_text=_("At most this many points per lead.")
    )
    cap_window_days = models.PositiveIntegerField(
        verbose_name=_("cap window days"),
        null=True,
        blank=True,
        help_text=_("Apply the caps per period of this many days instead of for ever."),
    )
    active = models.BooleanField(verbose_name=_("active"), default=True)
    valid_from = models.DateTimeField(verbose_name=_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(verbose_name=_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    # RESTRICT: a scorecard goes with its rules only (the ledger keeps rules: they are retired).
    scorecard = _scorecard_field(models.RESTRICT, "+")
    version = _version_field()

    objects = DefaultScorecardManager()
    every_scorecard = LiveManager()
    all_versions = AllVersionsManager()

    class Meta:
        verbose_name = _("scoring rule")
        verbose_name_plural = _("scoring rules")
        ordering = ["dimension", "key"]
        constraints = _live_and_draft_unique("scoringrule", "key", _("A rule with this key already exists."))

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.active and self.dimension == pure.Dimension.FIT.value and isinstance(self.points, int):
            self._check_fit_within_column()

    def _check_fit_within_column(self) -> None:
        """Refuse points that take the active fit rules of the rule's scorecard (in its model:
        the live one or its draft), this one's way, past the score column (the database
        would refuse the fit of a lead meeting them all, and its scoring set it aside), as
        the model file's check does (:func:`score_bounds.fit_past_columns`)."""
        sign = Q(points__gt=0) if self.points > 0 else Q(points__lt=0)
        others = (
            ScoringRule.all_versions.filter(
                sign, version=self.version_id, scorecard=self.scorecard_id, dimension=self.dimension, active=True
            )
            .exclude(pk=self.pk)
            .aggregate(s=Sum("points"))["s"]
        )
        above, below = score_bounds.fit_past_column([self.points, others or 0])
        if above is not None:
            message = gettext(
                "The active fit rules of its scorecard together, with this one, could give a lead up to {total} "
                "points, past the {limit} a score can hold; lower the points."
            )
            raise ValidationError({"points": message.format(total=above, limit=WHOLE_MAX)})
        if below is not None:
            message = gettext(
                "The active fit rules of its scorecard together, with this one, could take a lead down to {total} "
                "points, past the {limit} a score can hold; lower the negative points."
            )
            raise ValidationError({"points": message.format(total=below, limit=WHOLE_MIN)})

    def as_pure(self, conditions: list[RuleCondition] | None = None) -> pure.Rule:
        """The rule as plain data; pass ``conditions`` when they were prefetched."""
        rows = conditions if conditions is not None else list(self.conditions.all())
        cap = None
        if self.cap_count is not None or self.cap_points is not None:
            cap = pure.Cap(count=self.cap_count, points=self.cap_points, window_days=self.cap_window_days)
        return pure.Rule(
            id=self.pk,
            dimension=pure.Dimension(self.dimension),
            points=self.points,
            conditions=tuple(
                pure.Condition(field=c.field, operator=pure.Operator(c.operator), value=c.value) for c in rows
            ),
            match=pure.Match(self.match),
            interaction_types=frozenset(self.interaction_types or ()),
            cap=cap,
            active=self.active,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
        )


class RuleCondition(models.Model):
    rule = models.ForeignKey(ScoringRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="conditions")
    position = models.PositiveSmallIntegerField(verbose_name=_("position"), default=0)
    field = models.CharField(
        verbose_name=_("field"),
        max_length=120,
        help_text=_(
            "A lead field (industry, title, city…) or attributes.&lt;name&gt; for fit rules; "
            "an interaction property (campaign, form, url…) for engagement rules."
        ),
    )
    operator = models.CharField(
        verbose_name=_("operator"),
        max_length=20,
        choices=[(o.value, gettext_lazy(pure.OPERATOR_PHRASES[o])) for o in pure.Operator],
    )
    value = models.JSONField(verbose_name=_("value"), null=True, blank=True)

    class Meta:
        verbose_name = _("rule condition")
        verbose_name_plural = _("rule conditions")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return sentences.describe_condition(
            pure.Condition(self.field, pure.Operator(self.operator), self.value),
            dimension=pure.Dimension(self.rule.dimension),
        )


class DecayPolicy(CheckedOnEveryRow):
    """How quiet leads lose engagement, nightly. One row: the model's policy."""

    kind = models.CharField(
        verbose_name=_("kind"),
        max_length=20,
        choices=[
            (decay.Kind.NONE.value, _("none")),
            (decay.Kind.LINEAR.value, _("linear")),
            (decay.Kind.HALF_LIFE.value, _("half life")),
            (decay.Kind.WINDOW.value, _("window")),
        ],
        default=decay.Kind.NONE,
    )
    points_per_day = models.PositiveIntegerField(
        verbose_name=_("points per day"), default=0, help_text=_("Linear: points lost per quiet day.")
    )
    after_days = models.PositiveIntegerField(
        verbose_name=_("after days"),
        default=0,
        help_text=_("Linear and half-life: days without activity before decay starts."),
    )
    half_life_days = models.FloatField(
        verbose_name=_("half life days"), default=0, help_text=_("Half-life: days for engagement to halve.")
    )
    window_days = models.PositiveIntegerField(
        verbose_name=_("window days"),
        default=0,
        help_text=_("Time window: only engagement from the last N days counts."),
    )
    floor = models.IntegerField(
        verbose_name=_("floor"), default=0, help_text=_("Decay never takes engagement below this.")
    )
    scorecard = _scorecard_field(models.CASCADE, "+")
    version = _version_field()

    objects = DefaultScorecardManager()
    every_scorecard = LiveManager()
    all_versions = AllVersionsManager()

    class Meta:
        verbose_name = _("decay policy")
        verbose_name_plural = _("decay policy")
        constraints = [
            models.UniqueConstraint(
                fields=["version"], condition=Q(scorecard__isnull=True), name="decaypolicy_one_per_draft"
            ),
            models.UniqueConstraint(fields=["scorecard"], name="decaypolicy_one_per_scorecard"),
        ]

    def __str__(self) -> str:
        return gettext("Decay: {kind}").format(kind=self.get_kind_display())

    def as_pure(self) -> decay.Policy:
        return decay.Policy(
            kind=decay.Kind(self.kind),
            points_per_day=self.points_per_day,
            after_days=self.after_days,
            half_life_days=self.half_life_days,
            window_days=self.window_days,
            floor=self.floor,
        )

    @classmethod
    def current(cls) -> decay.Policy:
        row = cls.objects.order_by("pk").first()
        return row.as_pure() if row is not None else decay.Policy()


class ModelInfo(models.Model):
    """The scoring model's name and description, as its model file gives them. One row."""

    name = models.CharField(
        verbose_name=_("name"), max_length=model_file.NAME_MAX_LENGTH, blank=True, help_text=_("The model file's name.")
    )
    description = models.TextField(
        verbose_name=_("description"), blank=True, help_text=_("What the model is for, for whoever changes it next.")
    )
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("model name and description")
        verbose_name_plural = _("model name and description")

    def __str__(self) -> str:
        return self.name or "(unnamed model)"

    @classmethod
    def current(cls) -> ModelInfo:
        """The row, or an unsaved empty one when none was stored yet."""
        return cls.objects.order_by("pk").first() or cls()


class ScoreWatch(models.Model):
    """A total score whose crossing is recorded as a transition even when no
    group changes (routing's "score rises above / falls below N" triggers)."""

    value = models.IntegerField(verbose_name=_("value"), unique=True)

    class Meta:
        verbose_name = _("score watch")
        verbose_name_plural = _("score watches")

    def __str__(self) -> str:
        return f"watch {self.value}"


class Campaign(models.Model):
    """A marketing campaign, known by the key interactions carry in their ``campaign``
    property (nurture's opens and clicks, the API, forms' links). Interactions keep the
    key as text, so a key sent before its campaign is defined counts once it is."""

    key = models.SlugField(
        verbose_name=_("key"),
        max_length=campaign_file.KEY_MAX_LENGTH,
        unique=True,
        help_text=_("The value interactions carry in their campaign property, e.g. spring-sale."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=campaign_file.NAME_MAX_LENGTH)
    channel = models.CharField(
        verbose_name=_("channel"),
        max_length=campaign_file.CHANNEL_MAX_LENGTH,
        blank=True,
        help_text=_("E.g. email, paid search, events."),
    )
    cost = models.DecimalField(
        verbose_name=_("cost"),
        max_digits=campaign_file.COST_MAX_DIGITS,
        decimal_places=campaign_file.COST_DECIMALS,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("What the campaign cost, in the currency deals are won in. Empty: not known."),
    )
    start_date = models.DateField(verbose_name=_("start date"), null=True, blank=True)
    end_date = models.DateField(verbose_name=_("end date"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["name", "key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_date__isnull=True) | Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="campaign_ends_after_start",
                violation_error_message=_("The end date must not be before the start date."),
            ),
            models.CheckConstraint(
                condition=Q(cost__isnull=True) | Q(cost__gte=0),
                name="campaign_cost_not_negative",
                violation_error_message=_("The cost must not be negative."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("The end date must not be before the start date.")})
