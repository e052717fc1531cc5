"""What accounts are scored with: how their leads' scores roll up (one settings row), the
account ledger, the accounts waiting for their roll-up to be refreshed, and the account
groups with the transitions between them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Sum
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _

from scoring import accounts as pure
from scoring import model_file, rules, score_bounds
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN
from scoring.models.leads import Account
from scoring.sentences import WORDS


class AccountSettings(models.Model):
    """One row (id 1): how an account's leads' total scores make its lead score."""

    rollup = models.CharField(
        verbose_name=_("roll-up"),
        max_length=20,
        choices=[
            (pure.Rollup.SUM.value, _("Sum of its leads' scores")),
            (pure.Rollup.MAX.value, _("Its best lead's score")),
            (pure.Rollup.TOP_AVERAGE.value, _("Average of its best N leads' scores")),
        ],
        default=pure.Rollup.SUM.value,
    )
    top_n = models.PositiveSmallIntegerField(
        verbose_name=_("N"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("How many of the best leads the average reads."),
    )

    class Meta:
        verbose_name = _("account settings")
        verbose_name_plural = _("account settings")

    def __str__(self) -> str:
        return str(_("Account scoring settings"))

    @property
    def method(self) -> pure.Rollup:
        return pure.Rollup(self.rollup)


class AccountEntry(models.Model):
    """One row of the account ledger: the account's cached scores are its sums, by dimension."""

    class Dimension(models.TextChoices):
        LEADS = "leads", _("Leads' roll-up")
        FIT = "fit", _("Account fit")

    class Cause(models.TextChoices):
        ROLLUP = "rollup", _("Its leads' scores or members changed")
        RESCORE = "rescore", _("Nightly recompute")
        RULE = "rule", _("Account fit rule")

    # No constraint in the database, as the lead ledger's lead (see "Keys unchecked" in
    # scoring.models.ledger): the rows are written holding the account's row lock, and
    # deleted through Django's collector.
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="entries",
        db_index=False,
    )
    dimension = models.CharField(verbose_name=_("dimension"), max_length=10, choices=Dimension.choices)
    delta = models.IntegerField(verbose_name=_("delta"))
    cause = models.CharField(verbose_name=_("cause"), max_length=20, choices=Cause.choices)
    # RESTRICT, as the lead ledger's rules: history keeps its rules (deactivate one instead).
    rule = models.ForeignKey(
        "AccountRule",
        verbose_name=_("rule"),
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="entries",
        db_index=False,
    )
    note = models.CharField(verbose_name=_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name = _("account entry")
        verbose_name_plural = _("account entries")
        indexes = [
            models.Index(fields=["account", "-id"], include=["dimension", "delta"], name="account_entry_idx"),
            models.Index(fields=["rule"], condition=models.Q(rule__isnull=False), name="account_entry_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.delta:+d} {self.dimension} for account {self.account_id} ({self.cause})"


class StaleAccount(models.Model):
    """An account whose leads' scores or members changed: its roll-up is refreshed by the
    next scoring sweep. Only inserted by the transactions that change leads (never an
    update of the account row, which would make them wait on each other's accounts), and
    deleted by the refresh that reads it."""

    # No constraint in the database: its check took a key-share lock on the account row for
    # every queue row (many transactions sharing an account's row lock) at a check per row;
    # a row whose account is gone is claimed and dropped by the refresh, which finds no
    # account to lock, and Django's collector deletes an account's rows with it.
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )

    class Meta:
        verbose_name = _("stale account")
        verbose_name_plural = _("stale accounts")
        indexes = [models.Index(fields=["account"], name="stale_account_idx")]

    def __str__(self) -> str:
        return f"account {self.account_id} to refresh"


class AccountRule(models.Model):
    """An account fit rule: points for an account whose fields (industry, size, revenue,
    country, custom attributes) meet its conditions, tested with scoring's own operators
    (scoring.rules). Its points go to the account ledger with the rule as their cause."""

    key = models.SlugField(
        verbose_name=_("key"),
        max_length=model_file.ACCOUNT_RULE_KEY_MAX_LENGTH,
        unique=True,
        help_text=_("Stable name used in model files."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=model_file.RULE_NAME_MAX_LENGTH)
    points = models.IntegerField(verbose_name=_("points"), help_text=_("Negative to subtract."))
    match = models.CharField(
        verbose_name=_("match"),
        max_length=3,
        choices=[(rules.Match.ALL.value, _("All conditions")), (rules.Match.ANY.value, _("Any condition"))],
        default=rules.Match.ALL.value,
    )
    active = models.BooleanField(
        verbose_name=_("active"),
        default=True,
        help_text=_("Deactivate rather than delete: the ledger keeps its rules."),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("account rule")
        verbose_name_plural = _("account rules")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.points == 0:
            raise ValidationError(
                {"points": _("A rule worth 0 points does nothing; give it positive or negative points.")}
            )
        if self.active and isinstance(self.points, int):
            self._check_fit_within_column()

    def _check_fit_within_column(self) -> None:
        """Refuse points that take the active account fit rules' sum, this one's way, past
        the account fit column (the database would refuse the fit of an account meeting
        them all), as the model file's check does (:func:`score_bounds.account_fit_past_column`)."""
        sign = Q(points__gt=0) if self.points > 0 else Q(points__lt=0)
        others = AccountRule.objects.filter(sign, active=True).exclude(pk=self.pk).aggregate(s=Sum("points"))["s"]
        above, below = score_bounds.fit_past_column([self.points, others or 0])
        if above is not None:
            message = gettext(
                "The active account fit rules together, with this one, could give an account up to {total} "
                "points, past the {limit} an account's fit can hold; lower the points."
            )
            raise ValidationError({"points": message.format(total=above, limit=WHOLE_MAX)})
        if below is not None:
            message = gettext(
                "The active account fit rules together, with this one, could take an account down to {total} "
                "points, past the {limit} an account's fit can hold; lower the negative points."
            )
            raise ValidationError({"points": message.format(total=below, limit=WHOLE_MIN)})

    def to_pure(self) -> rules.Rule:
        """The rule for the engine, with its conditions (prefetch ``conditions`` for many rules)."""
        return rules.Rule(
            id=self.pk,
            dimension=rules.Dimension.FIT,
            points=self.points,
            conditions=tuple(c.to_pure() for c in self.conditions.all()),
            match=rules.Match(self.match),
            active=self.active,
        )


class AccountRuleCondition(models.Model):
    """One condition of an account fit rule: an account field (or ``attributes.<name>``),
    one of scoring's operators and a value (:func:`scoring.accounts.check_account_condition`)."""

    rule = models.ForeignKey(
        AccountRule, verbose_name=_("account rule"), on_delete=models.CASCADE, related_name="conditions"
    )
    position = models.PositiveSmallIntegerField(verbose_name=_("position"), default=0)
    field = models.CharField(
        verbose_name=_("field"),
        max_length=120,
        help_text=format_lazy(
            _("An account field ({fields}) or attributes.&lt;name&gt;."), fields=", ".join(pure.ACCOUNT_FIELDS)
        ),
    )
    operator = models.CharField(
        verbose_name=_("operator"),
        max_length=20,
        choices=[(o.value, gettext_lazy(rules.OPERATOR_PHRASES[o])) for o in rules.Operator],
    )
    value = models.JSONField(verbose_name=_("value"), null=True, blank=True)

    class Meta:
        verbose_name = _("account rule condition")
        verbose_name_plural = _("account rule conditions")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return rules.describe_condition(self.to_pure(), dimension=rules.Dimension.FIT, words=WORDS)

    def to_pure(self) -> rules.Condition:
        return rules.Condition(self.field, rules.Operator(self.operator), self.value)


class AccountGroup(models.Model):
    """A band of an account's total score (e.g. target, engaged, hot), with hysteresis,
    judged as lead score groups are (:func:`scoring.rules.group_for`)."""

    key = models.SlugField(
        verbose_name=_("key"),
        max_length=model_file.GROUP_KEY_MAX_LENGTH,
        unique=True,
        help_text=_("Stable name used in model files."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=model_file.GROUP_NAME_MAX_LENGTH)
    min_score = models.IntegerField(
        verbose_name=_("minimum score"),
        unique=True,
        help_text=_("Accounts with at least this total score are in the group."),
    )
    leave_below = models.IntegerField(
        verbose_name=_("leave below"),
        null=True,
        blank=True,
        help_text=_(
            "Hysteresis: an account in this group leaves it only when its total falls below this "
            "(at most the minimum score). Empty: leaves below the minimum score."
        ),
    )
    description = models.TextField(verbose_name=_("description"), blank=True)

    class Meta:
        verbose_name = _("account group")
        verbose_name_plural = _("account groups")
        ordering = ["min_score"]
        constraints = [
            models.CheckConstraint(
                condition=Q(leave_below__isnull=True) | Q(leave_below__lte=F("min_score")),
                name="account_group_leave_below_at_most_min",
                violation_error_message=_("'Leave below' must be at most the minimum score."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.min_score}+)"

    def band(self) -> rules.Band:
        return rules.Band(self.pk, self.min_score, self.leave_below)


class AccountTransition(models.Model):
    """An account moved from one account group to another (one row per group crossed,
    in order), written in the same transaction as the score change that moved it."""

    class Direction(models.TextChoices):
        UP = "up", _("Up")
        DOWN = "down", _("Down")

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="transitions", db_index=False
    )
    from_group = models.ForeignKey(
        AccountGroup,
        verbose_name=_("from group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    to_group = models.ForeignKey(
        AccountGroup,
        verbose_name=_("to group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    direction = models.CharField(verbose_name=_("direction"), max_length=4, choices=Direction.choices)
    previous_total = models.IntegerField(
        verbose_name=_("previous total"), help_text=_("The account's total right before the change.")
    )
    total_score = models.IntegerField(
        verbose_name=_("total score"), help_text=_("The account's total right after the change.")
    )
    cause = models.CharField(
        verbose_name=_("cause"),
        max_length=20,
        help_text=_("What caused it: rollup, rule, rescore or regroup (the groups changed)."),
    )
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))

    class Meta:
        verbose_name = _("account transition")
        verbose_name_plural = _("account transitions")
        indexes = [models.Index(fields=["account", "-occurred_at", "-id"], name="account_transition_idx")]

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.from_group_id} -> {self.to_group_id} ({self.cause})"

    @property
    def cause_label(self) -> str:
        """The cause as a person reads it: the ledger's causes, and "regroup" (the account
        groups changed, not the score), which the ledger never records."""
        labels = {**dict(AccountEntry.Cause.choices), "regroup": _("The account groups changed")}
        return str(labels.get(self.cause, self.cause))
