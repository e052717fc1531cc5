from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from people.names import person_name
from routing.egress import validate_webhook_url
from routing.encryption import EncryptedTextField
from routing.triggers import Trigger
from scoring import rules as pure
from scoring import sentences
from scoring.models import AccountGroup, GroupTransition, Lead, LifecycleStage, Scorecard, ScoreGroup

# The longest SLA (ten years): a longer one is no promise, and one near the integer column's
# limit takes the time it counts back from past the calendar's start.
SLA_HOURS_MAX = 10 * 365 * 24


class Team(models.Model):
    """A sales team with its own queue, assignment method and SLA."""

    class Assignment(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin over available reps with room")
        TERRITORY = "territory", _("Territory rules (lead attributes), else the team queue")
        QUEUE = "queue", _("Nobody: reps claim from the team queue")

    class SlaAction(models.TextChoices):
        REASSIGN = "reassign", _("Reassign to the next rep (round robin)")
        NOTIFY = "notify", _("Notify the team lead")

    key = models.SlugField(
        verbose_name=_("key"), max_length=60, unique=True, help_text=_("Stable name used in model files.")
    )
    name = models.CharField(verbose_name=_("name"), max_length=100)
    assignment = models.CharField(
        verbose_name=_("assignment"), max_length=20, choices=Assignment.choices, default=Assignment.ROUND_ROBIN
    )
    sla_hours = models.PositiveIntegerField(
        verbose_name=_("SLA hours"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(SLA_HOURS_MAX, _("At most %(limit_value)s hours (ten years)."))],
        help_text=_("A lead unclaimed this many hours is escalated once. Empty: no SLA."),
    )
    sla_action = models.CharField(
        verbose_name=_("SLA action"), max_length=10, choices=SlaAction.choices, default=SlaAction.NOTIFY
    )
    feedback_days = models.PositiveSmallIntegerField(
        verbose_name=_("feedback days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Sales promises an outcome (accepted, rejected, qualified…) within this many days of a "
            "hand-off; a lead without one after that is marked overdue. Empty: no deadline."
        ),
    )
    team_lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("team lead"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    email = models.EmailField(
        verbose_name=_("email"), blank=True, help_text=_("Where team notifications go (else the team lead's email).")
    )
    # The rep who got the last round-robin lead: the next one starts after them.
    last_rep = models.ForeignKey(
        "Rep", verbose_name=_("last rep"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scorecard = models.ForeignKey(
        Scorecard,
        verbose_name=_("scorecard"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "The scorecard whose score orders the team's queue (e.g. the product line it sells). "
            "Empty: the lead's score."
        ),
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Rep(models.Model):
    """A sales rep: a user in a team, with availability and a capacity of open leads."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="rep"
    )
    team = models.ForeignKey(Team, verbose_name=_("team"), on_delete=models.CASCADE, related_name="reps")
    available = models.BooleanField(
        verbose_name=_("available"), default=True, help_text=_("Unavailable reps (holidays…) get no new leads.")
    )
    capacity = models.PositiveIntegerField(
        verbose_name=_("capacity"), default=50, help_text=_("At most this many open leads at once.")
    )

    class Meta:
        verbose_name = _("rep")
        verbose_name_plural = _("reps")
        ordering = ["team", "user__username"]

    def __str__(self) -> str:
        return person_name(self.user)


class TerritoryRule(models.Model):
    """Leads whose attribute matches go to this rep (first matching rule wins)."""

    team = models.ForeignKey(Team, verbose_name=_("team"), on_delete=models.CASCADE, related_name="territories")
    position = models.PositiveIntegerField(verbose_name=_("position"), default=0)
    field = models.CharField(
        verbose_name=_("field"),
        max_length=120,
        help_text=_("A lead field such as country or industry, or attributes.&lt;name&gt;."),
    )
    values = models.JSONField(
        verbose_name=_("values"), help_text=_('Any of these values (case-insensitive), e.g. ["Spain", "Portugal"].')
    )
    rep = models.ForeignKey(Rep, verbose_name=_("rep"), on_delete=models.CASCADE, related_name="territories")

    class Meta:
        verbose_name = _("territory rule")
        verbose_name_plural = _("territory rules")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.field} in {self.values} → {self.rep}"

    def clean(self) -> None:
        problem = pure.check_field(self.field, dimension=pure.Dimension.FIT)
        if problem:
            raise ValidationError({"field": problem})
        if not isinstance(self.values, list) or not self.values:
            raise ValidationError({"values": _("Give a list of one or more values.")})
        if self.rep_id and self.team_id and self.rep.team_id != self.team_id:
            raise ValidationError({"rep": _("The rep must be in this team.")})


# The settings each trigger reads; a rule keeps none of the others.
TRIGGER_SETTINGS: dict[Trigger, frozenset[str]] = {
    Trigger.ENTERS_GROUP: frozenset({"group"}),
    Trigger.LEAVES_GROUP: frozenset({"group"}),
    Trigger.SCORE_RISES_TO: frozenset({"threshold"}),
    Trigger.SCORE_FALLS_BELOW: frozenset({"threshold"}),
    Trigger.STAGE_CHANGES: frozenset({"stage"}),
    Trigger.QUALIFIED: frozenset(),
    Trigger.DISQUALIFIED: frozenset(),
    Trigger.PROBABILITY_RISES: frozenset({"probability"}),
    Trigger.PROBABILITY_FALLS: frozenset({"probability"}),
    Trigger.ACCOUNT_ENTERS_GROUP: frozenset({"account_group"}),
    Trigger.ACCOUNT_LEAVES_GROUP: frozenset({"account_group"}),
}


class RoutingRule(models.Model):
    """When something happens to a lead (its trigger) and the conditions hold, do these actions in order."""

    key = models.SlugField(verbose_name=_("key"), max_length=100, unique=True)
    name = models.CharField(verbose_name=_("name"), max_length=200)
    active = models.BooleanField(verbose_name=_("active"), default=True)
    position = models.PositiveIntegerField(
        verbose_name=_("position"), default=0, help_text=_("Rules run in this order.")
    )
    trigger = models.CharField(
        verbose_name=_("trigger"), max_length=20, choices=[(t.value, _(t.label)) for t in Trigger]
    )
    group = models.ForeignKey(
        ScoreGroup,
        verbose_name=_("group"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("For 'enters group' and 'leaves group'."),
    )
    account_group = models.ForeignKey(
        AccountGroup,
        verbose_name=_("account group"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("For 'account enters account group' and 'account leaves account group'."),
    )
    threshold = models.IntegerField(
        verbose_name=_("threshold"), null=True, blank=True, help_text=_("For 'score rises to' and 'score falls below'.")
    )
    probability = models.PositiveSmallIntegerField(
        verbose_name=_("probability"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text=_("For 'predicted probability rises to / falls below': a percent, 1 to 99."),
    )
    stage = models.CharField(
        verbose_name=_("stage"),
        max_length=20,
        choices=LifecycleStage.choices,
        blank=True,
        help_text=_("For 'lifecycle stage changes': only a change to this stage (empty: any change)."),
    )

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        trigger = Trigger(self.trigger) if self.trigger in {t.value for t in Trigger} else None
        # An inactive rule may have lost its group: a model file deleted it while the rule was off.
        if self.active and trigger in (Trigger.ENTERS_GROUP, Trigger.LEAVES_GROUP) and self.group_id is None:
            errors["group"] = gettext("Choose the score group this trigger watches.")
        account_triggers = (Trigger.ACCOUNT_ENTERS_GROUP, Trigger.ACCOUNT_LEAVES_GROUP)
        if self.active and trigger in account_triggers and self.account_group_id is None:
            errors["account_group"] = gettext("Choose the account group this trigger watches.")
        if trigger in (Trigger.SCORE_RISES_TO, Trigger.SCORE_FALLS_BELOW) and self.threshold is None:
            errors["threshold"] = gettext("Give the score this trigger watches.")
        if trigger in (Trigger.PROBABILITY_RISES, Trigger.PROBABILITY_FALLS) and self.probability is None:
            errors["probability"] = gettext("Give the probability (a percent from 1 to 99) this trigger watches.")
        if trigger is not None:
            # A setting the trigger does not read would be kept, exported and hold its group
            # in use while doing nothing: refused, as an action's unused setting is.
            label = gettext(trigger.label)
            for name, value in (
                ("group", self.group_id),
                ("account_group", self.account_group_id),
                ("threshold", self.threshold),
                ("probability", self.probability),
                ("stage", self.stage),
            ):
                if name not in TRIGGER_SETTINGS[trigger] and value not in (None, ""):
                    errors.setdefault(name, gettext("'{kind}' does not use this: leave it empty.").format(kind=label))
        if errors:
            raise ValidationError(errors)

    def conditions_pure(self) -> tuple[pure.Condition, ...]:
        """The rule's conditions (prefetch ``conditions`` when reading many rules)."""
        return tuple(c.as_pure() for c in self.conditions.all())


class RoutingCondition(models.Model):
    """One test on the lead's fields; a rule acts only for leads passing all of its conditions.

    Checked where conditions come in (the admin's form, the model file) with
    :func:`scoring.rules.check_condition`, as scoring's fit conditions are."""

    rule = models.ForeignKey(RoutingRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="conditions")
    position = models.PositiveSmallIntegerField(verbose_name=_("position"), default=0)
    field = models.CharField(
        verbose_name=_("field"),
        max_length=120,
        help_text=_("A lead field (country, industry, company_size…) or attributes.&lt;name&gt;."),
    )
    operator = models.CharField(
        verbose_name=_("operator"),
        max_length=20,
        choices=[(o.value, _(pure.OPERATOR_PHRASES[o])) for o in pure.Operator],
    )
    value = models.JSONField(verbose_name=_("value"), null=True, blank=True)

    class Meta:
        verbose_name = _("routing condition")
        verbose_name_plural = _("routing conditions")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return sentences.describe_condition(self.as_pure(), dimension=pure.Dimension.FIT)

    def as_pure(self) -> pure.Condition:
        return pure.Condition(self.field, pure.Operator(self.operator), self.value)


def check_conditions(conditions: object) -> list[str]:
    """Problems with a rule's conditions (a list of {field, operator, value}), as sentences."""
    if not isinstance(conditions, list):
        return ["conditions must be a list"]
    problems = []
    for condition in conditions:
        if not isinstance(condition, dict) or set(condition) - {"field", "operator", "value"}:
            problems.append("each condition is {field, operator, value}")
            continue
        errors = pure.check_condition(
            str(condition.get("field", "")),
            str(condition.get("operator", "")),
            condition.get("value"),
            dimension=pure.Dimension.FIT,
        )
        problems.extend(f"{name}: {message}" for name, message in errors.items())
    return problems


SECRET_MAX_LENGTH = 200


class RoutingAction(models.Model):
    class Kind(models.TextChoices):
        ENROLL = "enroll", _("Enroll in a nurture sequence")
        EXIT_SEQUENCE = "exit_sequence", _("Exit a nurture sequence")
        EXIT_ALL = "exit_all", _("Exit every nurture sequence")
        ROUTE_TO_QUEUE = "route_to_queue", _("Route to a team's sales queue")
        ASSIGN_OWNER = "assign_owner", _("Assign an owner")
        NOTIFY = "notify", _("Notify the owner or team by email")
        SET_STAGE = "set_stage", _("Set the lifecycle stage")
        ADD_TAG = "add_tag", _("Add a tag")
        WEBHOOK = "webhook", _("Call a webhook")

    rule = models.ForeignKey(RoutingRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveIntegerField(verbose_name=_("position"), default=0)
    kind = models.CharField(verbose_name=_("kind"), max_length=20, choices=Kind.choices)
    sequence = models.ForeignKey(
        "nurture.Sequence",
        verbose_name=_("sequence"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    stage = models.CharField(verbose_name=_("stage"), max_length=20, choices=LifecycleStage.choices, blank=True)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Route to queue, assign owner (by the team's assignment) and notify (the team)."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Assign owner: this person (instead of a team's assignment)."),
    )
    tag = models.CharField(
        verbose_name=_("tag"), max_length=60, blank=True, help_text=_("Add tag: kept in the lead's attributes.tags.")
    )
    url = models.URLField(
        verbose_name=_("URL"),
        blank=True,
        validators=[validate_webhook_url],
        help_text=_("Webhook: the URL that receives a signed JSON POST (a public address)."),
    )
    # Encrypted at rest; the admin never shows it back (blank keeps it).
    secret = EncryptedTextField(
        verbose_name=_("secret"),
        blank=True,
        validators=[MaxLengthValidator(SECRET_MAX_LENGTH)],
        help_text=_("Webhook: the shared secret of the HMAC-SHA256 signature."),
    )
    message = models.CharField(
        verbose_name=_("message"), max_length=300, blank=True, help_text=_("Notify: a line added to the email.")
    )

    class Meta:
        verbose_name = _("routing action")
        verbose_name_plural = _("routing actions")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.rule})"

    def clean(self) -> None:
        """Every problem at once, each on its field: what the kind needs, and any setting
        the kind does not use (it would be kept and silently ignored)."""
        errors: dict[str, str] = {}
        kind = self.Kind
        needs: dict[str, tuple[str, str]] = {
            kind.ENROLL: ("sequence", gettext("Choose the sequence to enroll in.")),
            kind.EXIT_SEQUENCE: ("sequence", gettext("Choose the sequence to exit.")),
            kind.ROUTE_TO_QUEUE: ("team", gettext("Choose the team whose queue receives the lead.")),
            kind.SET_STAGE: ("stage", gettext("Choose the lifecycle stage.")),
            kind.ADD_TAG: ("tag", gettext("Give the tag.")),
            kind.WEBHOOK: ("url", gettext("Give the webhook URL.")),
        }
        if self.kind in needs:
            name, message = needs[self.kind]
            if not self._setting(name):
                errors[name] = message
        if self.kind == kind.ASSIGN_OWNER and not (self.team_id or self.user_id):
            errors["team"] = gettext("Choose a team (its assignment picks the rep) or a user.")
        if self.kind == kind.WEBHOOK and not self.secret:
            errors["secret"] = gettext("Give a secret: the receiver checks the signature with it.")
        if self.kind in KIND_SETTINGS:
            label = self.Kind(self.kind).label
            for name in ACTION_SETTINGS:
                if name not in KIND_SETTINGS[self.kind] and self._setting(name):
                    errors.setdefault(name, gettext("'{kind}' does not use this: leave it empty.").format(kind=label))
        if errors:
            raise ValidationError(errors)

    def _setting(self, name: str) -> object:
        """A setting's value; for a foreign key its id (no query), else the object given
        but not saved yet (a model file's new team)."""
        if name in ("sequence", "team", "user"):
            return getattr(self, f"{name}_id") or getattr(self, name)
        return getattr(self, name)


# What each kind of action reads, in the order the admin shows them: the admin shows
# only these for the kind chosen, and an action's check refuses a value in any other.
ACTION_SETTINGS = ("sequence", "team", "user", "stage", "tag", "url", "secret", "message")
KIND_SETTINGS: dict[str, tuple[str, ...]] = {
    RoutingAction.Kind.ENROLL: ("sequence",),
    RoutingAction.Kind.EXIT_SEQUENCE: ("sequence",),
    RoutingAction.Kind.EXIT_ALL: (),
    RoutingAction.Kind.ROUTE_TO_QUEUE: ("team",),
    RoutingAction.Kind.ASSIGN_OWNER: ("team", "user"),
    RoutingAction.Kind.NOTIFY: ("team", "message"),
    RoutingAction.Kind.SET_STAGE: ("stage",),
    RoutingAction.Kind.ADD_TAG: ("tag",),
    RoutingAction.Kind.WEBHOOK: ("url", "secret"),
}


class ActionRun(models.Model):
    """An action done for a transition: at most once, whatever re-runs."""

    # action_once_per_transition leads with the transition: no index of its own.
    transition = models.ForeignKey(
        GroupTransition, verbose_name=_("transition"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    action = models.ForeignKey(RoutingAction, verbose_name=_("action"), on_delete=models.CASCADE, related_name="runs")
    done_at = models.DateTimeField(verbose_name=_("done at"), auto_now_add=True)
    outcome = models.CharField(verbose_name=_("outcome"), max_length=300, blank=True)
    # The outcome as scoring.said keeps it, shown in the reader's language; empty on older rows.
    outcome_said = models.JSONField(verbose_name=_("outcome's sentence"), null=True, blank=True, editable=False)
    # The team the run acted for, whose team lead reads it in the admin and the timeline: the
    # queue the lead is in, the team told, the team an owner was picked from; none for the
    # other kinds, an owner named or told. Kept as done: the action may name another team later.
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("action run")
        verbose_name_plural = _("action runs")
        constraints = [models.UniqueConstraint(fields=["transition", "action"], name="action_once_per_transition")]

    def __str__(self) -> str:
        return gettext("{action} for transition {transition}: {outcome}").format(
            action=self.action, transition=self.transition_id, outcome=self.outcome_shown()
        )

    def outcome_shown(self) -> str:
        """The outcome in the reader's language (an older row's as stored)."""
        return sentences.shown(self.outcome, self.outcome_said)


class QueueItem(models.Model):
    """A lead handed to sales: in a team's queue, then claimed, worked and closed.

    A lead has at most one open item. Owner empty: waiting in the team queue
    for a rep to claim it; owner set and not yet claimed: assigned to that rep.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting")
        CLAIMED = "claimed", _("Claimed")
        ACCEPTED = "accepted", _("Accepted")
        QUALIFIED = "qualified", _("Qualified")
        REJECTED = "rejected", _("Rejected")
        DISQUALIFIED = "disqualified", _("Disqualified")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    OPEN_STATUSES = (Status.OPEN, Status.CLAIMED, Status.ACCEPTED, Status.QUALIFIED)
    CLOSED_STATUSES = (Status.REJECTED, Status.DISQUALIFIED, Status.WON, Status.LOST)

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="queue_items")
    # Team and owner are read through the partial indexes below (open items); only
    # deleting a team or a user looks up every item of theirs.
    team = models.ForeignKey(
        Team, verbose_name=_("team"), on_delete=models.PROTECT, related_name="items", db_index=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="queue_items",
        db_index=False,
    )
    status = models.CharField(verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.OPEN)
    entered_at = models.DateTimeField(verbose_name=_("entered at"))
    claimed_at = models.DateTimeField(verbose_name=_("claimed at"), null=True, blank=True)
    escalated_at = models.DateTimeField(verbose_name=_("escalated at"), null=True, blank=True)
    closed_at = models.DateTimeField(verbose_name=_("closed at"), null=True, blank=True)
    reason = models.CharField(
        verbose_name=_("reason"), max_length=300, blank=True, help_text=_("Why it was rejected, disqualified or lost.")
    )
    budget = models.CharField(verbose_name=_("budget"), max_length=200, blank=True)
    authority = models.CharField(verbose_name=_("authority"), max_length=200, blank=True)
    need = models.CharField(verbose_name=_("need"), max_length=200, blank=True)
    timeline = models.CharField(verbose_name=_("timeline"), max_length=200, blank=True)
    transition = models.ForeignKey(
        GroupTransition,
        verbose_name=_("transition"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        verbose_name = _("queue item")
        verbose_name_plural = _("queue items")
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(status__in=["open", "claimed", "accepted", "qualified"]),
                name="one_open_item",
            ),
        ]
        indexes = [
            # The queue page: a team's waiting items and a rep's own open items.
            models.Index(fields=["team", "entered_at"], condition=Q(status="open"), name="queue_team_open_idx"),
            models.Index(
                fields=["owner", "entered_at"],
                condition=Q(status__in=["open", "claimed", "accepted", "qualified"]),
                name="queue_owner_open_idx",
            ),
        ]
        permissions = [("work_queue", "Can work the sales queue (claim, accept, qualify, close leads)")]

    def __str__(self) -> str:
        return f"{self.lead} in {self.team} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Outcome(models.Model):
    """What sales did with a lead, one row per action: the history reports read.

    Recorded on the sales page (then ``item`` is the queue item worked) or reported by
    another system, a CRM, over the API (``source`` names its key; ``item`` is the
    lead's open queue item if it had one, else empty: a lead need not have been
    through a sales queue to become an opportunity or a customer)."""

    class Kind(models.TextChoices):
        CLAIMED = "claimed", _("Claimed")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        QUALIFIED = "qualified", _("Qualified")
        DISQUALIFIED = "disqualified", _("Disqualified")
        OPPORTUNITY = "opportunity", _("Opportunity created")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")
        ESCALATED = "escalated", _("Escalated (SLA)")
        RELEASED = "released", _("Released to the queue")

    # What counts as sales' feedback on a hand-off (the team's feedback deadline): every
    # outcome but taking the lead (claimed), handing it back (released) and the SLA task's
    # escalation, which say nothing about whether the lead was any good.
    FEEDBACK_KINDS = (
        Kind.ACCEPTED,
        Kind.REJECTED,
        Kind.QUALIFIED,
        Kind.DISQUALIFIED,
        Kind.OPPORTUNITY,
        Kind.WON,
        Kind.LOST,
    )

    item = models.ForeignKey(
        QueueItem, verbose_name=_("item"), null=True, blank=True, on_delete=models.CASCADE, related_name="outcomes"
    )
    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="outcomes", db_index=False
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=20, choices=Kind.choices)
    reason = models.CharField(verbose_name=_("reason"), max_length=300, blank=True)
    # A reason routing gave (an escalation's) as scoring.said keeps it, shown in the reader's
    # language; empty on a reason a person typed and on older rows.
    reason_said = models.JSONField(verbose_name=_("reason's sentence"), null=True, blank=True, editable=False)
    # The deal's value, in the installation's currency (Leadflow keeps no currency).
    amount = models.DecimalField(verbose_name=_("amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    total_score = models.IntegerField(
        verbose_name=_("total score"), help_text=_("The lead's total score when it happened.")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # A release's: the rep who held the lead then (the one who released it, or the rep an
    # administrator released it from, who is ``user``). The SLA never gives it back to them.
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("held by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Released: the rep who held the lead."),
    )
    source = models.CharField(
        verbose_name=_("source"),
        max_length=100,
        blank=True,
        db_default="",
        help_text=_("Who reported it from outside, e.g. api:&lt;key prefix&gt;."),
    )
    # The reporting system's id for this outcome: the same id twice is recorded once.
    client_id = models.CharField(verbose_name=_("client id"), max_length=200, null=True, blank=True)  # noqa: DJ001
    at = models.DateTimeField(verbose_name=_("at"))

    class Meta:
        verbose_name = _("outcome")
        verbose_name_plural = _("outcomes")
        ordering = ["-at"]
        indexes = [models.Index(fields=["lead", "-at"], name="outcome_lead_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "client_id"], condition=Q(client_id__isnull=False), name="outcome_once_per_client_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.lead_id}"

    def reason_shown(self) -> str:
        """The reason in the reader's language when routing gave it; as stored when a person typed it."""
        return sentences.shown(self.reason, self.reason_said)


class Notification(models.Model):
    """An email to send (an outbox): recorded by routing, sent at most once by a task.

    Sent in the phases nurture's deliveries use: claimed (``sending``, ``claimed_at``)
    and committed before anything goes out; sent outside any transaction; confirmed
    (``sent``) afterwards. One still ``sending`` when its lease is over belongs to a
    sender that stopped in between: the mail server may have it, so it becomes
    ``unknown`` and is not sent again until a person says so in the admin.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        UNKNOWN = "unknown", _("Unknown (the sender stopped mid-send): check the mail server's log")

    to = models.JSONField(verbose_name=_("to"), help_text=_("Addresses."))
    subject = models.CharField(verbose_name=_("subject"), max_length=300)
    body = models.TextField(verbose_name=_("body"))
    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The team told (a notify action's, an SLA escalation's), whose team lead reads it in the
    # admin; none for a lead's or account's owner told, and for those recorded before.
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(
        verbose_name=_("claimed at"),
        null=True,
        blank=True,
        help_text=_("When a sender last took it; its lease runs from then."),
    )
    attempts = models.PositiveSmallIntegerField(
        verbose_name=_("attempts"), default=0, help_text=_("How many times a sender took it.")
    )
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)
    error = models.CharField(verbose_name=_("error"), max_length=300, blank=True)
    # The error as scoring.said keeps it, shown in the reader's language; empty on older rows.
    error_said = models.JSONField(verbose_name=_("error's sentence"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            # What the sender claims, and the claims whose lease it checks.
            models.Index(fields=["id"], condition=Q(status="pending"), name="notification_pending_idx"),
            models.Index(fields=["claimed_at"], condition=Q(status="sending"), name="notification_sending_idx"),
        ]

    def __str__(self) -> str:
        return self.subject

    def error_shown(self) -> str:
        """The error in the reader's language (an older row's as stored)."""
        return sentences.shown(self.error, self.error_said)


class WebhookDelivery(models.Model):
    """One webhook call to make: a signed JSON POST, retried with backoff."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed (gave up)")

    run = models.OneToOneField(ActionRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(verbose_name=_("URL"))
    payload = models.JSONField(verbose_name=_("payload"))
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"))
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(verbose_name=_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.get_status_display()}, {self.attempts} attempts)"


class WebhookAttempt(models.Model):
    """Every try of a webhook delivery, kept for the admin."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField(verbose_name=_("at"))
    status_code = models.PositiveIntegerField(verbose_name=_("status code"), null=True, blank=True)
    error = models.CharField(verbose_name=_("error"), max_length=300, blank=True)
    # The error as scoring.said keeps it, shown in the reader's language; empty on older rows.
    error_said = models.JSONField(verbose_name=_("error's sentence"), null=True, blank=True, editable=False)
    duration_ms = models.PositiveIntegerField(verbose_name=_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error} at {self.at:%Y-%m-%d %H:%M:%S}"

    def error_shown(self) -> str:
        """The error in the reader's language (an older row's as stored)."""
        return sentences.shown(self.error, self.error_said)
