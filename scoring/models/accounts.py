"""What accounts are scored with: how their leads' scores roll up (one settings row), the
account ledger, and the accounts waiting for their roll-up to be refreshed."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from scoring import accounts as pure
from scoring.models.leads import Account


class AccountSettings(models.Model):
    """One row (id 1): how an account's leads' total scores make its lead score."""

    rollup = models.CharField(
        max_length=20,
        choices=[
            (pure.Rollup.SUM.value, "Sum of its leads' scores"),
            (pure.Rollup.MAX.value, "Its best lead's score"),
            (pure.Rollup.TOP_AVERAGE.value, "Average of its best N leads' scores"),
        ],
        default=pure.Rollup.SUM.value,
    )
    top_n = models.PositiveSmallIntegerField(
        "N",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="How many of the best leads the average reads.",
    )

    class Meta:
        verbose_name = "account settings"
        verbose_name_plural = "account settings"

    def __str__(self) -> str:
        return "Account scoring settings"

    @property
    def method(self) -> pure.Rollup:
        return pure.Rollup(self.rollup)


class AccountEntry(models.Model):
    """One row of the account ledger: the account's cached scores are its sums, by dimension."""

    class Dimension(models.TextChoices):
        LEADS = "leads", "Leads' roll-up"
        FIT = "fit", "Account fit"

    class Cause(models.TextChoices):
        ROLLUP = "rollup", "Its leads' scores or members changed"
        RESCORE = "rescore", "Nightly recompute"
        RULE = "rule", "Account fit rule"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="entries", db_index=False)
    dimension = models.CharField(max_length=10, choices=Dimension.choices)
    delta = models.IntegerField()
    cause = models.CharField(max_length=20, choices=Cause.choices)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "account entries"
        indexes = [models.Index(fields=["account", "-id"], include=["dimension", "delta"], name="account_entry_idx")]

    def __str__(self) -> str:
        return f"{self.delta:+d} {self.dimension} for account {self.account_id} ({self.cause})"


class StaleAccount(models.Model):
    """An account whose leads' scores or members changed: its roll-up is refreshed by the
    next scoring sweep. Only inserted by the transactions that change leads (never an
    update of the account row, which would make them wait on each other's accounts), and
    deleted by the refresh that reads it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        indexes = [models.Index(fields=["account"], name="stale_account_idx")]

    def __str__(self) -> str:
        return f"account {self.account_id} to refresh"
