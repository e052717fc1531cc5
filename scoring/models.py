from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from scoring import decay
from scoring import rules as pure


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not a time zone name such as Europe/Madrid or America/New_York.")


class Account(models.Model):
    """A company; leads belong to one by their email domain."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, unique=True)
    industry = models.CharField(max_length=100, blank=True)
    company_size = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA name, e.g. America/Los_Angeles: when its leads get email.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name or self.domain


class ScoreGroup(models.Model):
    """A band of total score, from ``min_score`` up to the next group's threshold."""

    key = models.SlugField(max_length=60, unique=True, help_text="Stable name used in model files.")
    name = models.CharField(max_length=100)
    min_score = models.IntegerField(unique=True, help_text="Leads with at least this total score are in the group.")
    leave_below = models.IntegerField(
        null=True,
        blank=True,
        help_text="Hysteresis: a lead in this group leaves it only when its total falls below this "
        "(at most the minimum score). Empty: leaves below the minimum score.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["min_score"]
        constraints = [
            models.CheckConstraint(
                condition=Q(leave_below__isnull=True) | Q(leave_below__lte=F("min_score")),
                name="group_leave_below_at_most_min",
                violation_error_message="'Leave below' must be at most the minimum score.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.min_score}+)"


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", "Subscriber"
    LEAD = "lead", "Lead"
    MQL = "mql", "Marketing qualified lead"
    SQL = "sql", "Sales qualified lead"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    DISQUALIFIED = "disqualified", "Disqualified"


class Lead(models.Model):
    # Fields a fit rule may read (see scoring.rules.LEAD_FIELDS).
    FIT_FIELDS = (
        "email",
        "first_name",
        "last_name",
        "title",
        "department",
        "company",
        "industry",
        "company_size",
        "annual_revenue",
        "country",
        "city",
        "lifecycle_stage",
    )

    # A lead is known by its email, its external id (another system's), or both.
    # NULL, not "", when unknown: the case-insensitive unique index ignores NULLs.
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=200, blank=True)
    department = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=200, blank=True)
    # Foreign keys without their own index where another index leads with the
    # column, or with a partial one where most rows are NULL: fewer indexes to
    # write on every score change.
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads", db_index=False
    )
    industry = models.CharField(max_length=100, blank=True)
    company_size = models.PositiveIntegerField(null=True, blank=True, help_text="Number of employees.")
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    country = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Custom attributes, read by rules as attributes.<name>."
    )
    lifecycle_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
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
    queue_team_id = models.BigIntegerField(null=True, blank=True, editable=False)
    # Cached sums of the score ledger; only scoring.services writes them, in
    # the same transaction as the ledger rows, holding the lead's row lock.
    fit_score = models.IntegerField(default=0, editable=False)
    engagement_score = models.IntegerField(default=0, editable=False)
    total_score = models.GeneratedField(
        expression=F("fit_score") + F("engagement_score"),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    score_group = models.ForeignKey(
        ScoreGroup,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,  # lead_group_score_idx leads with it
    )
    last_activity_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Decay starts from here: the engagement right after the last change that
    # was not decay, and when that was (see scoring.decay).
    engagement_base = models.IntegerField(default=0, editable=False)
    engagement_base_at = models.DateTimeField(null=True, blank=True, editable=False)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA name, e.g. Europe/Madrid; else the account's, else the site's.",
    )
    # Consent: once set, no nurture email is sent to this lead again.
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Set when attributes changed in bulk (ingestion); workers re-evaluate fit
    # and clear it, so a change is never left unscored even if the broker is down.
    fit_pending = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_ci_unique"),
            models.CheckConstraint(
                condition=Q(email__isnull=False) | Q(external_id__isnull=False), name="lead_has_identity"
            ),
        ]
        indexes = [
            models.Index(fields=["-total_score"], name="lead_total_score_idx"),
            models.Index(fields=["score_group", "-total_score"], name="lead_group_score_idx"),
            models.Index(fields=["id"], condition=Q(fit_pending=True), name="lead_fit_pending_idx"),
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
        fields: dict[str, object] = {}
        for name in self.FIT_FIELDS:
            value = getattr(self, name)
            fields[name] = float(value) if name == "annual_revenue" and value is not None else value
        return pure.lead_values(fields, self.attributes or {})


class Visitor(models.Model):
    """An anonymous browser (first-party cookie), not a lead until it identifies.

    Its interactions wait unscored, without a lead; when the visitor identifies
    they move to the lead and are scored then, once.
    """

    key = models.CharField(max_length=64, unique=True, help_text="The visitor cookie's value.")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="visitors")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    identified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"visitor {self.key}"


class Interaction(models.Model):
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )  # interaction_lead_time_idx leads with it
    visitor = models.ForeignKey(
        Visitor, null=True, blank=True, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    type = models.CharField(max_length=40, choices=list(pure.INTERACTION_TYPES.items()))
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    # Scoring could not process it (see SetAside): neither scored nor waiting, so
    # workers do not claim it again and rescoring does not count it, until retried.
    set_aside = models.BooleanField(default=False, db_default=False, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="interaction_lead_time_idx"),
            # What workers claim: unscored interactions of known leads.
            models.Index(
                fields=["id"],
                condition=Q(scored_at__isnull=True, lead__isnull=False, set_aside=False),
                name="interaction_unscored_idx",
            ),
            models.Index(fields=["visitor"], condition=Q(visitor__isnull=False), name="interaction_visitor_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(visitor__isnull=False), name="interaction_has_actor"
            ),
        ]

    def __str__(self) -> str:
        who = f"lead {self.lead_id}" if self.lead_id else f"visitor {self.visitor_id}"
        return f"{self.get_type_display()} by {who} at {self.occurred_at:%Y-%m-%d %H:%M}"


class ScoringRule(models.Model):
    key = models.SlugField(max_length=80, unique=True, help_text="Stable name used in model files.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    dimension = models.CharField(max_length=20, choices=[(d.value, d.value.title()) for d in pure.Dimension])
    points = models.IntegerField(help_text="Negative points subtract.")
    match = models.CharField(
        max_length=3,
        choices=[(pure.Match.ALL.value, "all conditions"), (pure.Match.ANY.value, "any condition")],
        default=pure.Match.ALL.value,
    )
    interaction_types = models.JSONField(default=list, blank=True)
    cap_count = models.PositiveIntegerField(null=True, blank=True, help_text="At most this many times per lead.")
    cap_points = models.PositiveIntegerField(null=True, blank=True, help_text="At most this many points per lead.")
    cap_window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Apply the caps per period of this many days instead of for ever."
    )
    active = models.BooleanField(default=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dimension", "key"]

    def __str__(self) -> str:
        return self.name

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
    rule = models.ForeignKey(ScoringRule, on_delete=models.CASCADE, related_name="conditions")
    position = models.PositiveSmallIntegerField(default=0)
    field = models.CharField(
        max_length=120,
        help_text="A lead field (industry, title, city…) or attributes.<name> for fit rules; "
        "an interaction property (campaign, form, url…) for engagement rules.",
    )
    operator = models.CharField(max_length=20, choices=[(o.value, pure.OPERATOR_PHRASES[o]) for o in pure.Operator])
    value = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return pure.describe_condition(
            pure.Condition(self.field, pure.Operator(self.operator), self.value),
            dimension=pure.Dimension(self.rule.dimension),
        )


class ScoreEntry(models.Model):
    """One row of the append-only score ledger."""

    class Cause(models.TextChoices):
        RULE = "rule", "Rule"
        MANUAL = "manual", "Manual adjustment"
        RESCORE = "rescore", "Rescore"
        DECAY = "decay", "Decay"

    # The ledger is the most written table: foreign keys are indexed only by
    # the composite or partial indexes below.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_entries", db_index=False)
    dimension = models.CharField(max_length=20, choices=[(d.value, d.value.title()) for d in pure.Dimension])
    delta = models.IntegerField()
    cause = models.CharField(max_length=20, choices=Cause.choices)
    # RESTRICT: history keeps its rules (deactivate a rule instead of deleting
    # it), but erasing a lead still removes its interactions and entries.
    rule = models.ForeignKey(
        ScoringRule, null=True, blank=True, on_delete=models.RESTRICT, related_name="entries", db_index=False
    )
    interaction = models.ForeignKey(
        Interaction, null=True, blank=True, on_delete=models.RESTRICT, related_name="entries", db_index=False
    )
    occurred_at = models.DateTimeField(help_text="When what caused the change happened.")
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        verbose_name_plural = "score entries"
        constraints = [
            # A rule scores an interaction at most once, whatever the workers do.
            models.UniqueConstraint(
                fields=["interaction", "rule"],
                condition=Q(interaction__isnull=False),
                name="ledger_one_award_per_interaction_rule",
            ),
        ]
        indexes = [
            # A lead's rows by rule, carrying what the sums by lead and rule read (rescore,
            # "why this score", caps): read from the index alone, not from rows spread
            # over the whole table.
            models.Index(
                fields=["lead", "rule", "occurred_at"],
                include=["dimension", "delta", "interaction"],
                name="ledger_lead_rule_idx",
            ),
            models.Index(fields=["rule"], condition=Q(rule__isnull=False), name="ledger_rule_idx"),
            models.Index(fields=["created_by"], condition=Q(created_by__isnull=False), name="ledger_created_by_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.delta:+d} {self.dimension} for lead {self.lead_id} ({self.cause})"


class DecayPolicy(models.Model):
    """How quiet leads lose engagement, nightly. One row: the model's policy."""

    kind = models.CharField(
        max_length=20, choices=[(k.value, k.value.replace("_", " ")) for k in decay.Kind], default=decay.Kind.NONE
    )
    points_per_day = models.PositiveIntegerField(default=0, help_text="Linear: points lost per quiet day.")
    after_days = models.PositiveIntegerField(
        default=0, help_text="Linear and half-life: days without activity before decay starts."
    )
    half_life_days = models.FloatField(default=0, help_text="Half-life: days for engagement to halve.")
    window_days = models.PositiveIntegerField(
        default=0, help_text="Time window: only engagement from the last N days counts."
    )
    floor = models.IntegerField(default=0, help_text="Decay never takes engagement below this.")

    class Meta:
        verbose_name = "decay policy"
        verbose_name_plural = "decay policy"

    def __str__(self) -> str:
        return f"Decay: {self.get_kind_display()}"

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


class DecayRun(models.Model):
    """One run of the nightly decay: what it did, for the admin."""

    day = models.DateField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    leads = models.PositiveIntegerField(default=0)
    points = models.IntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Decay of {self.day}: {self.leads} leads, {self.points} points"


class ScoreWatch(models.Model):
    """A total score whose crossing is recorded as a transition even when no
    group changes (routing's "score rises above / falls below N" triggers)."""

    value = models.IntegerField(unique=True)

    def __str__(self) -> str:
        return f"watch {self.value}"


class GroupTransition(models.Model):
    """Something routing acts on happened to a lead: an outbox that routing consumes.

    Kinds: a score change that moved the lead to another group or across a
    watched score (``score``), a change of lifecycle stage (``stage``), sales
    qualified or disqualified the lead. Written in the same transaction as the
    change; routing marks a row processed when it has acted on it, so a crash
    in between loses nothing and a re-run acts once.
    """

    class Kind(models.TextChoices):
        SCORE = "score", "Score change"
        STAGE = "stage", "Lifecycle stage change"
        QUALIFIED = "qualified", "Qualified by sales"
        DISQUALIFIED = "disqualified", "Disqualified by sales"

    class Direction(models.TextChoices):
        UP = "up", "Up"
        DOWN = "down", "Down"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SCORE, db_default=Kind.SCORE)
    # No index on the groups: every scoring batch, decay run and routing pass writes
    # these rows, while only deleting a score group looks them up by group.
    from_group = models.ForeignKey(
        ScoreGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    to_group = models.ForeignKey(
        ScoreGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    direction = models.CharField(max_length=4, choices=Direction.choices, blank=True, db_default="")
    previous_total = models.IntegerField(null=True, blank=True, help_text="The lead's total right before the change.")
    total_score = models.IntegerField(help_text="The lead's total right after the change.")
    from_stage = models.CharField(max_length=20, blank=True, db_default="")
    to_stage = models.CharField(max_length=20, blank=True, db_default="")
    detail = models.CharField(
        max_length=300, blank=True, db_default="", help_text="A reason given by a person, if any."
    )
    cause = models.CharField(
        max_length=20, help_text="What caused it: rule, manual, rescore, decay, regroup, api, admin, routing, sales."
    )
    occurred_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], condition=Q(processed_at__isnull=True), name="transition_pending_idx"),
            models.Index(fields=["lead", "-occurred_at"], name="transition_lead_idx"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.STAGE:
            return f"lead {self.lead_id}: stage {self.from_stage} -> {self.to_stage} ({self.cause})"
        if self.kind != self.Kind.SCORE:
            return f"lead {self.lead_id}: {self.get_kind_display()} ({self.cause})"
        return f"lead {self.lead_id}: {self.from_group_id} -> {self.to_group_id} ({self.cause})"


class RescoreJob(models.Model):
    """Rescore leads from their history after a rule change: in the background,
    in chunks, by any number of workers at once, resumable (see :class:`RescoreLane`)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    group = models.ForeignKey(
        ScoreGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Only leads in this group (empty: all leads).",
    )
    lead_ids = models.JSONField(null=True, blank=True, help_text="Only these leads (empty: as the group says).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    entries = models.PositiveIntegerField(default=0, help_text="Ledger rows written.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Rescore #{self.pk}: {self.done}/{self.total} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.done / self.total))


class RescoreLane(models.Model):
    """A slice of a rescore job's leads (ids in [low, high)), rescored chunk by chunk
    in id order by one worker at a time, which holds the lane's row lock for the
    chunk: its cursor ``last_lead_id`` moves in the chunk's transaction, so a
    stopped worker's lane resumes exactly where its last chunk committed."""

    job = models.ForeignKey(RescoreJob, on_delete=models.CASCADE, related_name="lanes")
    position = models.PositiveIntegerField()
    low = models.BigIntegerField()
    high = models.BigIntegerField()
    last_lead_id = models.BigIntegerField(default=0)
    finished = models.BooleanField(default=False)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="rescore_lane_position")]

    def __str__(self) -> str:
        return f"lane {self.position} of rescore #{self.job_id}: ids {self.low}-{self.high - 1}"


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
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained (marked as spam)"
        MANUAL = "manual", "Added by hand"

    address_hash = models.CharField(
        max_length=64, unique=True, editable=False, help_text="SHA-256 (hex) of the lower-cased, trimmed address."
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    suppressed_at = models.DateTimeField()
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="When the lead with this address was erased: only the hash remains."
    )

    class Meta:
        verbose_name = "suppressed address"
        verbose_name_plural = "suppression list"
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

    kind = models.CharField(max_length=40)
    row_id = models.BigIntegerField()
    # Not a foreign key: the row may be about a lead that another app's table
    # names; erasing a lead deletes these rows by this id (setaside_rows_erase).
    lead_id = models.BigIntegerField(null=True, blank=True)
    error_type = models.CharField(max_length=200)
    error = models.TextField()
    traceback = models.TextField(blank=True)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    failures = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="Retried and back in its batch's way.")
    retried_at = models.DateTimeField(null=True, blank=True)
    retry_result = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "set-aside row"
        verbose_name_plural = "set-aside rows"
        ordering = ["-last_failed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "row_id"], name="setaside_one_per_row")]
        indexes = [models.Index(fields=["lead_id"], condition=Q(lead_id__isnull=False), name="setaside_lead_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.row_id}: {self.error_type}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
