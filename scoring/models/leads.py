"""Leads, the accounts they belong to, anonymous visitors, and what they do (interactions)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from scoring import accounts as pure_accounts
from scoring import event_types, lead_fields, localized
from scoring import rules as pure
from scoring.models.design import Scorecard, ScoreGroup


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(
            gettext("'{value}' is not a time zone name such as Europe/Madrid or America/New_York.").format(value=value)
        )


class Account(models.Model):
    """A company. Its leads belong to it by their email's domain (not a free-mail one),
    or by its id in another system (``external_id``) when the API names it; scoring's
    services (scoring.services.accounts) keep the membership."""

    name = models.CharField(verbose_name=_("name"), max_length=200)
    # NULL, not "", when unknown (an account known only by its external id): unique ignores NULLs.
    domain = models.CharField(
        verbose_name=_("domain"),
        max_length=253,
        unique=True,
        null=True,
        blank=True,
        help_text=_("Leads with email at this domain belong here."),
    )
    external_id = models.CharField(
        verbose_name=_("external id"),
        max_length=200,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The company's id in another system (a CRM): the API's account_id on a lead."),
    )
    industry = models.CharField(verbose_name=_("industry"), max_length=100, blank=True)
    company_size = models.PositiveIntegerField(
        verbose_name=_("company size"), null=True, blank=True, help_text=_("Number of employees.")
    )
    annual_revenue = models.DecimalField(
        verbose_name=_("annual revenue"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    country = models.CharField(verbose_name=_("country"), max_length=100, blank=True)
    attributes = models.JSONField(
        verbose_name=_("attributes"),
        default=dict,
        blank=True,
        help_text=_("Custom attributes, read by account fit rules as attributes.&lt;name&gt;."),
    )
    time_zone = models.CharField(
        verbose_name=_("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("IANA name, e.g. America/Los_Angeles: when its leads get email."),
    )
    # Cached sums of the account ledger (scoring.models.AccountEntry), by dimension; only
    # scoring.services.accounts writes them, with the ledger rows, holding the row lock.
    lead_score = models.IntegerField(
        verbose_name=_("lead score"), default=0, editable=False, help_text=_("Its leads' scores, rolled up.")
    )
    fit_score = models.IntegerField(
        verbose_name=_("fit score"), default=0, editable=False, help_text=_("From the account fit rules.")
    )
    total_score = models.GeneratedField(
        verbose_name=_("total score"),
        expression=F("lead_score") + F("fit_score"),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text=_("Who looks after the account: routing's notifications about the account go to them."),
    )
    # The account group its total is in (with hysteresis), kept with the cached scores.
    group = models.ForeignKey(
        "scoring.AccountGroup",
        verbose_name=_("account group"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="accounts",
        db_index=False,
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name"]
        indexes = [models.Index(fields=["-total_score", "id"], name="account_total_score_idx")]

    def __str__(self) -> str:
        return self.name or self.domain or self.external_id or f"account {self.pk}"

    # The columns account fit rules read (scoring.accounts.ACCOUNT_FIELDS).
    FIT_FIELDS = ("name", "domain", "industry", "company_size", "annual_revenue", "country")

    def rule_values(self) -> dict[str, object]:
        fields: dict[str, object] = {name: getattr(self, name) for name in self.FIT_FIELDS}
        if self.annual_revenue is not None:
            fields["annual_revenue"] = float(self.annual_revenue)
        return pure_accounts.account_values(fields, self.attributes or {})


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", _("Subscriber")
    LEAD = "lead", _("Lead")
    MQL = "mql", _("Marketing qualified lead")
    SQL = "sql", _("Sales qualified lead")
    OPPORTUNITY = "opportunity", _("Opportunity")
    CUSTOMER = "customer", _("Customer")
    DISQUALIFIED = "disqualified", _("Disqualified")


class LeadQuerySet(models.QuerySet["Lead"]):
    def with_email(self, email: str) -> LeadQuerySet:
        """The lead whose email is ``email``, whatever its case, found as the unique index
        (lower(email)) holds it: one probe of that index. ``email__iexact`` compares
        UPPER(email), which no b-tree index holds: it read the search's trigram index
        (18 ms at 300,000 leads), or the whole table without it."""
        return self.filter(Exact(Lower("email"), Lower(Value(email))))


class Lead(models.Model):
    # The columns a fit rule reads (scoring.lead_fields).
    FIT_FIELDS = lead_fields.FIT_COLUMNS

    # A lead is known by its email, its external id (another system's), or both.
    # NULL, not "", when unknown: the case-insensitive unique index ignores NULLs.
    email = models.EmailField(verbose_name=_("email"), max_length=254, null=True, blank=True)  # noqa: DJ001
    external_id = models.CharField(verbose_name=_("external id"), max_length=200, null=True, blank=True, unique=True)
    first_name = models.CharField(verbose_name=_("first name"), max_length=100, blank=True)
    last_name = models.CharField(verbose_name=_("last name"), max_length=100, blank=True)
    title = models.CharField(verbose_name=_("title"), max_length=200, blank=True)
    department = models.CharField(verbose_name=_("department"), max_length=100, blank=True)
    company = models.CharField(verbose_name=_("company"), max_length=200, blank=True)
    # Foreign keys without their own index where another index leads with the
    # column, or with a partial one where most rows are NULL: fewer indexes to
    # write on every score change.
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,
    )
    # The account was named (by the API's account_id, or a person in the admin) rather
    # than found by the email's domain: the domain no longer moves the lead.
    account_explicit = models.BooleanField(
        verbose_name=_("account explicit"), default=False, db_default=False, editable=False
    )
    industry = models.CharField(verbose_name=_("industry"), max_length=100, blank=True)
    company_size = models.PositiveIntegerField(
        verbose_name=_("company size"), null=True, blank=True, help_text=_("Number of employees.")
    )
    annual_revenue = models.DecimalField(
        verbose_name=_("annual revenue"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    country = models.CharField(verbose_name=_("country"), max_length=100, blank=True)
    city = models.CharField(verbose_name=_("city"), max_length=100, blank=True)
    attributes = models.JSONField(
        verbose_name=_("attributes"),
        default=dict,
        blank=True,
        help_text=_("Custom attributes, read by rules as attributes.&lt;name&gt;."),
    )
    # What senders trusted to describe a company (the API, an import, the admin, a key kept
    # on a server) last said of the lead's industry, company_size, annual_revenue and
    # country, as JSON: the lead's columns may hold what a key used in web pages or a
    # tracked form wrote, which describes no company. Its account's empty fields take these
    # when it joins one later (scoring.services.account_fields).
    company_told = models.JSONField(
        verbose_name=_("company as trusted senders told it"),
        default=dict,
        blank=True,
        editable=False,
        help_text=_(
            "What the API, imports, the admin and server keys last said of the lead's industry, company size, "
            "annual revenue and country: its account's empty fields take these."
        ),
    )
    lifecycle_stage = models.CharField(
        verbose_name=_("lifecycle stage"), max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        db_index=False,
    )
    # The id of the sales team whose queue this lead waits in, unclaimed; NULL
    # otherwise. Routing keeps it (scoring never reads it): it puts the team's
    # waiting leads in an index by score, so the sales queue page reads its top
    # leads without sorting the whole queue. Not a foreign key: scoring imports
    # no other app.
    queue_team_id = models.BigIntegerField(verbose_name=_("queue team id"), null=True, blank=True, editable=False)
    # Cached sums of the score ledger; only scoring.services writes them, in
    # the same transaction as the ledger rows, holding the lead's row lock.
    fit_score = models.IntegerField(verbose_name=_("fit score"), default=0, editable=False)
    engagement_score = models.IntegerField(verbose_name=_("engagement score"), default=0, editable=False)
    total_score = models.GeneratedField(
        verbose_name=_("total score"),
        expression=F("fit_score") + F("engagement_score"),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    score_group = models.ForeignKey(
        ScoreGroup,
        verbose_name=_("score group"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,  # lead_group_score_idx leads with it
    )
    last_activity_at = models.DateTimeField(verbose_name=_("last activity at"), null=True, blank=True, editable=False)
    # Decay starts from here: the engagement right after the last change that
    # was not decay, and when that was (see scoring.decay).
    engagement_base = models.IntegerField(verbose_name=_("engagement base"), default=0, editable=False)
    engagement_base_at = models.DateTimeField(
        verbose_name=_("engagement base at"), null=True, blank=True, editable=False
    )
    time_zone = models.CharField(
        verbose_name=_("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("IANA name, e.g. Europe/Madrid; else the account's, else the site's."),
    )
    # Consent: once set, no nurture email is sent to this lead again.
    unsubscribed_at = models.DateTimeField(verbose_name=_("unsubscribed at"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_ci_unique"),
            models.CheckConstraint(
                condition=Q(email__isnull=False) | Q(external_id__isnull=False), name="lead_has_identity"
            ),
        ]
        indexes = [
            # The admin's lead list: its order, and its filters by group and by stage, read
            # in index order with the tie-break on id. Its search reads a table of its own
            # that only PostgreSQL has (scoring.lead_search, scoring's migration 0047).
            models.Index(fields=["-total_score", "id"], name="lead_total_score_idx"),
            models.Index(fields=["score_group", "-total_score", "id"], name="lead_group_score_idx"),
            models.Index(fields=["lifecycle_stage", "-total_score", "id"], name="lead_stage_score_idx"),
            models.Index(fields=["account"], condition=Q(account__isnull=False), name="lead_account_idx"),
            models.Index(fields=["owner"], condition=Q(owner__isnull=False), name="lead_owner_idx"),
            models.Index(
                fields=["queue_team_id", "-total_score"],
                condition=Q(queue_team_id__isnull=False),
                name="lead_queue_team_score_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.email or f"external id {self.external_id}"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def rule_values(self) -> dict[str, object]:
        return self.values_of({name: getattr(self, name) for name in self.FIT_FIELDS}, self.attributes)

    @staticmethod
    def values_of(fields: Mapping[str, object], attributes: Mapping[str, object] | None) -> dict[str, object]:
        """What fit rules read of a lead whose ``FIT_FIELDS`` and attributes are these
        (read without building the lead: a rescore reads them as rows)."""
        values = pure.lead_values(fields, attributes or {})
        if (revenue := values.get("annual_revenue")) is not None:
            values["annual_revenue"] = float(revenue)  # type: ignore[arg-type]
        return values


class PendingFit(models.Model):
    """A lead whose fit waits for a worker: created in bulk (intake, an import) or with
    fields changed in bulk (an import, an identify). Inserted by the transaction that
    writes the lead, while it holds the lead's row, and deleted by the batch that
    evaluates the fit, while that batch holds it: a change is never left unscored, even
    with the broker down, and the lead's row is not written a second time to clear a flag
    (a flag in an index's predicate made that update write every index of the table)."""

    # No constraint in the database: its check took a key-share lock on the lead for every
    # row. Django's collector deletes a lead's row with the lead.
    lead = models.OneToOneField(
        Lead,
        verbose_name=_("lead"),
        primary_key=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )

    class Meta:
        verbose_name = _("lead waiting for its fit")
        verbose_name_plural = _("leads waiting for their fit")

    def __str__(self) -> str:
        return f"lead {self.lead_id}: fit to evaluate"


class AttributeName(models.Model):
    """A name of the leads' custom attributes Leadflow knows, and where it first came from:
    a trusted writer (the API, an import, the admin, a key kept on a server, a tracked
    form's post) records every name it writes, a fit rule the names it tests and a tracked
    form the names it writes when they are saved; a key used in web pages writes only names
    known so (or tested by a rule), and brings new ones only while fewer than
    ``LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES`` rows say it brought theirs
    (scoring.services.attribute_names). Each name is a column of the leads' export."""

    class Origin(models.TextChoices):
        WRITER = "writer", _("Written by a trusted sender")
        RULE = "rule", _("Tested by a rule")
        FORM = "form", _("A tracked form's field")
        PAGE = "page", _("Brought by a key used in web pages")
        # Rows recorded before the origin was: the names leads held at the upgrade, and
        # those trusted senders wrote since (only a page's were told apart then).
        EARLIER = "earlier", _("Known before Leadflow recorded where names came from")

    # Longer names are not recorded: a key used in web pages cannot bring one.
    MAX_LENGTH = 200

    name = models.CharField(verbose_name=_("name"), max_length=MAX_LENGTH, primary_key=True)
    # Where it came from first: a name a page brought stays counted as a page's (it takes
    # one of LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES) even once a server writes it too.
    origin = models.CharField(
        verbose_name=_("where it came from"), max_length=10, choices=Origin.choices, default=Origin.WRITER
    )
    recorded_at = models.DateTimeField(verbose_name=_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("custom attribute name")
        verbose_name_plural = _("custom attribute names")

    def __str__(self) -> str:
        return self.name


class LeadScore(models.Model):
    """A lead's score on a scorecard other than the default one (whose score is the lead's own
    columns): cached sums of the scorecard ledger (:class:`ScorecardEntry`) by dimension, the
    scorecard's group and the decay base, as on the lead. Only scoring's services write it,
    with the ledger rows, holding the lead's row lock. No row: nothing scored yet (all 0)."""

    # No constraint in the database on the lead, the scorecard or the group: on PostgreSQL
    # each is a check per row written, and every scoring batch writes a row per lead and
    # scorecard (with three scorecards, about a tenth of the database's time per event).
    # Only scoring's services write these rows, holding the lead's lock, with ids they have
    # just read; deletes go through Django's collector, which keeps CASCADE and SET_NULL.
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        related_name="scorecard_scores",
        db_constraint=False,
        db_index=False,  # leadscore_one_per_scorecard leads with it
    )
    scorecard = models.ForeignKey(
        Scorecard,
        verbose_name=_("scorecard"),
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    fit_score = models.IntegerField(verbose_name=_("fit score"), default=0)
    engagement_score = models.IntegerField(verbose_name=_("engagement score"), default=0)
    total_score = models.GeneratedField(
        verbose_name=_("total score"),
        expression=F("fit_score") + F("engagement_score"),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    score_group = models.ForeignKey(
        ScoreGroup,
        verbose_name=_("score group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    engagement_base = models.IntegerField(verbose_name=_("engagement base"), default=0)
    engagement_base_at = models.DateTimeField(verbose_name=_("engagement base at"), null=True, blank=True)

    class Meta:
        verbose_name = _("lead's scorecard score")
        verbose_name_plural = _("leads' scorecard scores")
        # No index on the scores: scoring and decay change them on every write, and an index
        # on them makes each such update write every index anew (no HOT update). No one reads a
        # scorecard's leads in score order: the sales queue sorts its own leads' scores, read by
        # (lead, scorecard); the reports count a scorecard's scores whole. On PostgreSQL its
        # pages keep 30% free (scoring's migration 0046), so such an update usually stays on
        # its page and leaves the unique index alone.
        constraints = [models.UniqueConstraint(fields=["lead", "scorecard"], name="leadscore_one_per_scorecard")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} on scorecard {self.scorecard_id}: {self.fit_score} + {self.engagement_score}"


class Visitor(models.Model):
    """An anonymous browser (first-party cookie), not a lead until it identifies.

    Its interactions wait unscored, without a lead; when the visitor identifies
    they move to the lead and are scored then, once.
    """

    key = models.CharField(
        verbose_name=_("key"), max_length=64, unique=True, help_text=_("The visitor cookie's value.")
    )
    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), null=True, blank=True, on_delete=models.CASCADE, related_name="visitors"
    )
    first_seen_at = models.DateTimeField(verbose_name=_("first seen at"), auto_now_add=True)
    last_seen_at = models.DateTimeField(verbose_name=_("last seen at"), auto_now=True)
    identified_at = models.DateTimeField(verbose_name=_("identified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")

    def __str__(self) -> str:
        return f"visitor {self.key}"


class Interaction(models.Model):
    # No constraint in the database: its check was a query per row stored, as costly as
    # storing the row. Whoever writes an interaction's lead holds the lead's row until it
    # commits (intake: scoring.services.leads_hold), and erasure locks the row before it
    # collects what it deletes, so neither can miss the other's rows.
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="interactions",
        db_index=False,
    )  # interaction_lead_time_idx leads with it
    visitor = models.ForeignKey(
        Visitor,
        verbose_name=_("visitor"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="interactions",
        db_index=False,
    )
    # A type name (scoring.event_types): built in or the company's own; EventType counts them.
    type = models.CharField(verbose_name=_("type"), max_length=event_types.MAX_LENGTH)
    properties = models.JSONField(verbose_name=_("properties"), default=dict, blank=True)
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    source = models.CharField(verbose_name=_("source"), max_length=100, blank=True)
    # The ids of what a key used in web pages sent begin so (intake.segment keeps them in a
    # room of that key's own): anyone can read such a key from the page and send with it.
    FROM_A_PAGE = "page:"
    # Unique through InteractionKey, not here: on PostgreSQL the table is partitioned by
    # month of occurred_at, and a unique index there must include it, while a retried
    # event without a time of its own gets a new occurred_at.
    idempotency_key = models.CharField(verbose_name=_("idempotency key"), max_length=200)
    received_at = models.DateTimeField(verbose_name=_("received at"), auto_now_add=True)
    # Scoring could not process it (see SetAside): neither scored nor waiting, so
    # workers do not claim it again and rescoring does not count it, until retried.
    # Scored: it has a lead, is not set aside and no longer waits (WaitingInteraction).
    set_aside = models.BooleanField(
        verbose_name=pgettext_lazy("an interaction", "set aside"), default=False, db_default=False, editable=False
    )

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="interaction_lead_time_idx"),
            models.Index(fields=["visitor"], condition=Q(visitor__isnull=False), name="interaction_visitor_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(visitor__isnull=False), name="interaction_has_actor"
            ),
        ]

    def __str__(self) -> str:
        if self.lead_id:
            words = gettext("{type} by lead {who} at {when}")
        else:
            words = gettext("{type} by visitor {who} at {when}")
        return words.format(type=self.type, who=self.lead_id or self.visitor_id, when=localized.when(self.occurred_at))


class WaitingInteraction(models.Model):
    """An interaction of a known lead waiting for a worker to score it, with what scoring
    reads of it. Inserted with the interaction (or when an anonymous visitor's lead becomes
    known), deleted by the batch that scores it, in that batch's transaction: the
    interaction's own row is written once, never again to say it was scored (a column in
    an index's predicate made that second write a new version in every index)."""

    # No constraints in the database (each a check per row written). Django's collector
    # deletes a lead's rows with the lead; an interaction is only deleted with its lead.
    interaction = models.OneToOneField(
        Interaction,
        verbose_name=_("interaction"),
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
        db_index=False,  # waiting_lead_time_idx leads with it
    )
    type = models.CharField(verbose_name=_("type"), max_length=event_types.MAX_LENGTH)
    properties = models.JSONField(verbose_name=_("properties"), default=dict, blank=True)
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))

    class Meta:
        verbose_name = _("interaction waiting to be scored")
        verbose_name_plural = _("interactions waiting to be scored")
        # A batch takes a lead's other waiting interactions from here (scoring.services.engagement).
        indexes = [models.Index(fields=["lead", "occurred_at"], name="waiting_lead_time_idx")]

    def __str__(self) -> str:
        return f"interaction {self.interaction_id} of lead {self.lead_id}: to score"


class InteractionKey(models.Model):
    """The idempotency key of every interaction stored: an event is stored once by its key.
    A table of its own, since the interactions' table is partitioned by month on PostgreSQL
    (see scoring.partitions), where a unique key must include the month."""

    key = models.CharField(verbose_name=_("key"), max_length=200, primary_key=True)
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    # Deleting (erasing) a lead deletes its keys with its interactions, so its events sent
    # again are stored again, as before the keys had a table. No constraint in the
    # database: a check per row on the hot path, for what the ORM's delete already does.
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )

    class Meta:
        verbose_name = _("interaction key")
        verbose_name_plural = _("interaction keys")

    def __str__(self) -> str:
        return self.key


class InteractionRollup(models.Model):
    """How many interactions of a type a lead had in a month, for the months whose raw
    interactions retention dropped (scoring.services.retention): what readers of the
    history still need from them."""

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="+", db_index=False)
    type = models.CharField(verbose_name=_("type"), max_length=event_types.MAX_LENGTH)
    month = models.DateField(verbose_name=_("month"), help_text=_("The first day of the month."))
    count = models.PositiveIntegerField(verbose_name=_("count"))

    class Meta:
        verbose_name = _("interaction roll-up")
        verbose_name_plural = _("interaction roll-ups")
        constraints = [
            models.UniqueConstraint(fields=["lead", "type", "month"], name="interaction_rollup_one_per_month")
        ]
        indexes = [models.Index(fields=["month", "type"], name="interaction_rollup_month_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.count} {self.type} in {self.month:%Y-%m}"
