"""Kept beside the scores: the suppression list, the rows batches set aside, and the
free-mail domains (which name no company)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from scoring import sentences


class SuppressedAddress(models.Model):
    """An email address that nurture never mails again: the suppression list.

    Only a hash of the normalised address (lower-cased, trimmed) is kept, so the
    entry outlives the lead's erasure without keeping the address. Plain SHA-256,
    not keyed with SECRET_KEY: rotating that key (after a leak, say) must never
    silently empty the list and mail people who asked not to be mailed, and other
    tools exchange suppression lists as SHA-256 of the same normalised form. The
    cost is that someone holding the table can confirm a guessed address is on
    it, which is the question the list exists to answer anyway. Only
    scoring.suppression writes it.
    """

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained (marked as spam)")
        MANUAL = "manual", _("Added by hand")

    address_hash = models.CharField(
        verbose_name=_("address hash"),
        max_length=64,
        unique=True,
        editable=False,
        help_text=_("SHA-256 (hex) of the lower-cased, trimmed address."),
    )
    reason = models.CharField(verbose_name=_("reason"), max_length=20, choices=Reason.choices)
    suppressed_at = models.DateTimeField(verbose_name=_("suppressed at"))
    erased_at = models.DateTimeField(
        verbose_name=_("erased at"),
        null=True,
        blank=True,
        help_text=_("When the lead with this address was erased: only the hash remains."),
    )

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")
        ordering = ["-suppressed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.address_hash[:12]}… ({self.get_reason_display()})"


class SetAside(models.Model):
    """A row a batch could not process, set aside with its error so that the rest
    of the batch went on (see :mod:`scoring.setaside`, its only writer).

    ``kind`` says which batch and which table ``row_id`` is in (an interaction, a
    lead for decay, a routing event, a nurture enrollment…); the row has left its
    batch's way until someone retries it. One row per (kind, row): failing again
    counts up ``failures``.
    """

    kind = models.CharField(verbose_name=_("kind"), max_length=40)
    row_id = models.BigIntegerField(verbose_name=_("row id"))
    # Not a foreign key: the row may be about a lead that another app's table
    # names; erasing a lead deletes these rows by this id (setaside_rows_erase).
    lead_id = models.BigIntegerField(verbose_name=_("lead id"), null=True, blank=True)
    error_type = models.CharField(verbose_name=_("error type"), max_length=200)
    error = models.TextField(verbose_name=_("error"))
    traceback = models.TextField(verbose_name=_("traceback"), blank=True)
    first_failed_at = models.DateTimeField(verbose_name=_("first failed at"))
    last_failed_at = models.DateTimeField(verbose_name=_("last failed at"))
    failures = models.PositiveIntegerField(verbose_name=_("failures"), default=1)
    resolved_at = models.DateTimeField(
        verbose_name=_("resolved at"), null=True, blank=True, help_text=_("Retried and back in its batch's way.")
    )
    retried_at = models.DateTimeField(verbose_name=_("retried at"), null=True, blank=True)
    retry_result = models.CharField(verbose_name=_("retry result"), max_length=500, blank=True)
    # The retry's result as scoring.said keeps it, shown in the reader's language; empty on
    # older rows and on results a kind gives as plain text.
    retry_result_said = models.JSONField(
        verbose_name=_("retry result's sentence"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("set-aside row")
        verbose_name_plural = _("set-aside rows")
        ordering = ["-last_failed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "row_id"], name="setaside_one_per_row")]
        indexes = [models.Index(fields=["lead_id"], condition=Q(lead_id__isnull=False), name="setaside_lead_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.row_id}: {self.error_type}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def retry_result_shown(self) -> str:
        """The retry's result in the reader's language (as stored, when it is plain text)."""
        return sentences.shown(self.retry_result, self.retry_result_said)


class FreeMailDomain(models.Model):
    """An email domain anyone can have an address at (gmail.com, hotmail.es…): it names
    no company, so a lead with it belongs to no account by its domain. Seeded with the
    usual providers (scoring's migration 0029); marketers edit the list in the admin, which
    then has a worker move the leads already there (``manage.py accounts_assign`` by hand)."""

    domain = models.CharField(
        verbose_name=_("domain"), max_length=253, unique=True, help_text=_("Lower case, without '@': e.g. gmail.com.")
    )

    class Meta:
        verbose_name_plural = _("free-mail domains")
        verbose_name = _("free-mail domain")
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def clean(self) -> None:
        self.domain = self.domain.strip().lstrip("@").lower().rstrip(".")
        if "." not in self.domain or any(c in self.domain for c in "@/ ") or self.domain.startswith("."):
            raise ValidationError({"domain": _("Give the domain alone, with its dot, e.g. gmail.com.")})
