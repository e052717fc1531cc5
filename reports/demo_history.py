"""The toy store's demo history, played day by day through the services, each told the
day's time: leads arrive and do things (the API's door, ``intake.ingest``), workers score
them, routing acts, the nightly decay runs, nurture sends its steps and the personal
shoppers work their queue (``routing.sales``). So every table looks as if Leadflow had
run for the whole period. What the services cannot be told is listed in
:data:`NOT_BACKDATED`.

Keyed so that playing it again changes nothing: demo leads by external id
(``demo-00001``), interactions by idempotency key, queue work by the item's status,
the nightly decay by its run of that day.
"""

from __future__ import annotations

import time as clock
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from intake.events import Event
from intake.ingest import events_accept
from nurture import services as nurture
from nurture.models import Delivery, Enrollment, Sequence
from reports import demo_plan as plan
from routing import sales
from routing import services as routing
from routing.models import Notification, Outcome, QueueItem, Rep, Team
from scoring import services as scoring
from scoring.models import DecayRun, GroupTransition, Interaction, Lead, ScoreEntry, ScoreGroup

# The toy store's parts the history needs (examples/toy_store*.yaml).
TEAM = "sales"
SEQUENCES = ("nurture", "frequent", "preferential", "long-term")
SOURCE = "demo"
# The personal shoppers: users of the sales team, made once (no password: nobody logs in as them).
REPS = ("demo-shopper-ana", "demo-shopper-luis", "demo-shopper-sofia")
# Nurture email and notifications are rendered and recorded as sent, but go nowhere.
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"

# What keeps the real time of loading instead of the history's day: no service takes one.
NOT_BACKDATED = (
    "leads' created_at (set by the database when the row is made)",
    "ledger rows' created_at on SQLite (its bulk insert stamps it; PostgreSQL's takes the day's)",
    "the decay runs' started_at",
    "routing's action runs' done_at",
    "notifications' created_at",
)

# Times of day (seconds after midnight, the site's time zone) of each step of a day.
NIGHT = int(2.5 * 3600)  # the nightly decay
SALES = 10 * 3600  # the personal shoppers' morning
SENDING = 12 * 3600  # nurture's send run
EVENING = int(23.5 * 3600)  # the workers' scoring and routing of the day's interactions


class DemoRefused(Exception):
    """The history cannot be loaded here; the message says why and what to do."""


@dataclass
class DemoSummary:
    leads: int
    days: int
    seconds: float = 0.0
    added: dict[str, int] = field(default_factory=dict)  # rows added, per table
    outcomes: dict[str, int] = field(default_factory=dict)  # sales outcomes added, per kind

    @property
    def changed(self) -> bool:
        return any(self.added.values())


def counts() -> dict[str, int]:
    """Rows per table the history writes (what a second run must leave as they are)."""
    return {
        "leads": Lead.objects.count(),
        "interactions": Interaction.objects.count(),
        "ledger rows": ScoreEntry.objects.count(),
        "lead events": GroupTransition.objects.count(),
        "queue items": QueueItem.objects.count(),
        "sales outcomes": Outcome.objects.count(),
        "enrollments": Enrollment.objects.count(),
        "nurture emails": Delivery.objects.count(),
        "notifications": Notification.objects.count(),
        "decay runs": DecayRun.objects.count(),
    }


def toy_store_check() -> Team:
    """The sales team of the toy store, or :class:`DemoRefused` naming what is missing."""
    missing = []
    if not ScoreGroup.objects.exists():
        missing.append("its scoring model (examples/toy_store.yaml)")
    have = set(Sequence.objects.filter(key__in=SEQUENCES).values_list("key", flat=True))
    if have != set(SEQUENCES):
        missing.append("its nurture sequences (examples/toy_store_nurture.yaml)")
    team = Team.objects.filter(key=TEAM).first()
    if team is None:
        missing.append("its routing (examples/toy_store_routing.yaml)")
    if missing:
        raise DemoRefused(
            "The demo history is the toy store's: load "
            + ", ".join(missing)
            + " first (manage.py scoring_model_import / nurture_sequences_import; bin/run does)."
        )
    assert team is not None
    return team


def reps_ensure(team: Team) -> list[int]:
    """The demo's personal shoppers, made if missing; their user ids. No service makes reps
    (people add them in the admin), so they are made here."""
    users = []
    user_model = get_user_model()
    for name in REPS:
        user, created = user_model.objects.get_or_create(username=name, defaults={"email": f"{name}@example.com"})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        Rep.objects.get_or_create(user=user, defaults={"team": team})
        users.append(user.pk)
    return users


def demo_history_load(
    *, leads: int, days: int, seed: int, language: str = "", log: Callable[[str], None] | None = None
) -> DemoSummary:
    """Play the history of ``leads`` leads over the last ``days`` days (to yesterday).
    What people wrote in it (webinar titles, survey answers, the shoppers' reasons and
    notes) is in ``language`` ("en" or "es"; empty: the site's, ``LEADFLOW_LANGUAGE``)."""
    if leads < 1:
        raise DemoRefused("leads: give at least 1")
    if not 1 <= days <= 3650:
        raise DemoRefused("days: give 1 to 3650")
    words = plan.WORDS.get((language or settings.LANGUAGE_CODE)[:2].lower())
    if words is None:
        raise DemoRefused(f"language: give one of {', '.join(plan.WORDS)}, not {language!r}")
    team = toy_store_check()
    started = clock.monotonic()
    before = counts()
    outcomes_before = _outcome_counts()
    reps_ensure(team)
    # Leads at the demo's free-mail providers belong to no account, as people at Gmail's.
    scoring.free_mail_domains_add(domains=plan.FREE_MAIL)
    first = timezone.localdate() - timedelta(days=days)
    weights = plan.arrival_weights(days, first_weekday=first.weekday())
    plans = [plan.lead_plan(seed=seed, number=n, days=days, weights=weights, words=words) for n in range(1, leads + 1)]
    arriving: dict[int, list[plan.PlannedLead]] = defaultdict(list)
    happening: dict[int, list[tuple[plan.PlannedLead, plan.PlannedEvent]]] = defaultdict(list)
    for lead in plans:
        arriving[lead.arrival].append(lead)
        for event in lead.events:
            happening[event.day].append((lead, event))
    activity = {lead.number: lead.activity for lead in plans}
    mail = get_connection(EMAIL_BACKEND)
    for k in range(days):
        day = first + timedelta(days=k)
        # A day is stored whole or not at all, in one commit (SQLite waits for the disk at
        # each): a run stopped midway leaves whole days, and a second run plays the rest.
        with transaction.atomic():
            _day_play(
                seed=seed,
                words=words,
                at=_clock(day),
                arriving=arriving[k],
                happening=happening[k],
                activity=activity,
                mail=mail,
            )
        if log is not None and (k + 1) % 10 == 0:
            log(f"  {day.isoformat()}: day {k + 1} of {days}")
    after = counts()
    outcomes_after = _outcome_counts()
    return DemoSummary(
        leads,
        days,
        clock.monotonic() - started,
        {name: after[name] - before[name] for name in after},
        {kind: outcomes_after[kind] - outcomes_before.get(kind, 0) for kind in outcomes_after},
    )


class _Clock:
    """Times of one day of the history, in the site's time zone."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.midnight = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())

    def __call__(self, seconds: int) -> datetime:
        return self.midnight + timedelta(seconds=seconds)


_clock = _Clock


def _day_play(
    *,
    seed: int,
    words: plan.Words,
    at: _Clock,
    arriving: list[plan.PlannedLead],
    happening: list[tuple[plan.PlannedLead, plan.PlannedEvent]],
    activity: dict[int, str],
    mail: BaseEmailBackend,
) -> None:
    """One day: the nightly decay, the shoppers' morning, nurture's sending, the day's new
    leads and interactions, and the evening's scoring and routing."""
    if not DecayRun.objects.filter(day=at.day).exists():
        scoring.leads_decay(today=at.day, now=at(NIGHT))
    routing.transitions_route(now=at(NIGHT))
    _sales_work(seed=seed, words=words, today=at.day, at=at)
    routing.transitions_route(now=at(SALES + 3600))
    responses = _nurture_send(seed=seed, now=at(SENDING), activity=activity, mail=mail)
    while routing.notifications_send(now=at(SENDING), email_connection=mail):
        pass
    _leads_arrive(arriving, at=at)
    events = [
        Event(index=0, id=e.key, type=e.type, occurred_at=at(e.seconds), email=lead.email, properties=e.properties)
        for lead, e in happening
    ]
    events += responses
    if events:
        events_accept([_indexed(e, i) for i, e in enumerate(events)], source=SOURCE, now=at(EVENING))
    scoring.interactions_score_pending(now=at(EVENING))
    routing.transitions_route(now=at(EVENING))


def _indexed(event: Event, index: int) -> Event:
    return Event(
        index=index,
        id=event.id,
        type=event.type,
        occurred_at=event.occurred_at,
        email=event.email,
        properties=event.properties,
    )


def _outcome_counts() -> Counter[str]:
    return Counter(dict(Outcome.objects.values_list("kind").annotate(n=Count("id")).values_list("kind", "n")))


def _leads_arrive(leads: list[plan.PlannedLead], *, at: Callable[[int], datetime]) -> None:
    """The day's new leads, with what they told the shop (scoring's leads_merge: fit is
    evaluated by the evening's scoring batch, as for a bulk identify)."""
    if not leads:
        return
    with transaction.atomic():
        scoring.leads_merge(
            fields={lead.email: lead.fields for lead in leads},
            external_ids={lead.email: lead.external_id for lead in leads},
            at=at(min(e.seconds for e in leads[0].events) if leads[0].events else SALES),
        )


def _nurture_send(*, seed: int, now: datetime, activity: dict[int, str], mail: BaseEmailBackend) -> list[Event]:
    """Send the steps due now (nurture's sender, its email going nowhere); return the opens
    and clicks their readers will make."""
    batch = settings.LEADFLOW_NURTURE_BATCH_SIZE
    while nurture.deliveries_send_due(now=now, batch_size=batch, email_connection=mail).claimed >= batch:
        pass
    sent = (
        Delivery.objects.filter(status=Delivery.Status.SENT, sent_at=now)
        .select_related("enrollment__lead", "enrollment__sequence", "step")
        .order_by("pk")
    )
    events: list[Event] = []
    for delivery in sent:
        lead = delivery.enrollment.lead
        number = plan.lead_number(lead.external_id or "")
        if number is None or number not in activity:
            continue
        campaign = delivery.step.campaign_key()
        response = plan.nurture_response(seed=seed, number=number, activity=activity[number], campaign=campaign)
        if not response.opened:
            continue
        properties = {
            "sequence": delivery.enrollment.sequence.key,
            "step": delivery.step.position,
            "campaign": campaign,
            "delivery": delivery.pk,
        }
        opened_at = now + timedelta(seconds=response.after_seconds)
        key = f"{lead.external_id}-{campaign}"
        events.append(Event(0, f"{key}-open", "email_open", opened_at, email=lead.email, properties=properties))
        if response.clicked:
            clicked_at = opened_at + timedelta(seconds=45)
            click = {**properties, "url": "https://toys.example/offers"}
            events.append(Event(0, f"{key}-click", "email_click", clicked_at, email=lead.email, properties=click))
    return events


def _sales_work(*, seed: int, words: plan.Words, today: date, at: Callable[[int], datetime]) -> None:
    """The personal shoppers' morning: each open item of a demo lead moves on as its plan
    says, through the sales queue's own actions (claim, accept or reject, qualify or
    disqualify, won or lost)."""
    items = list(
        # Only what was in the queue by the morning: a re-run sees the items of later days too.
        QueueItem.objects.filter(lead__external_id__startswith="demo-", entered_at__lt=at(SALES))
        .select_related("lead", "owner")
        .order_by("entered_at", "pk")
    )
    visits: Counter[int] = Counter()
    tz = timezone.get_current_timezone()
    for order, item in enumerate(items):
        number = plan.lead_number(item.lead.external_id or "")
        visit = visits[item.lead_id]
        visits[item.lead_id] += 1
        if number is None or item.status in QueueItem.CLOSED_STATUSES or item.owner is None:
            continue
        steps = plan.sales_plan(seed=seed, number=number, visit=visit, order=order, words=words)
        entered = timezone.localtime(item.entered_at, tz).date()
        claim_day = entered + timedelta(days=steps.claim_after)
        decide_day = claim_day + timedelta(days=steps.decision_after)
        qualify_day = decide_day + timedelta(days=steps.qualify_after)
        close_day = qualify_day + timedelta(days=steps.close_after)
        # The shoppers' actions come a second apart, in the items' order (not their ids,
        # which a database's sequence gives differently from one load to the next).
        now = at(SALES + order % 3600)
        _item_step(item, today=today, steps=steps, days=(claim_day, decide_day, qualify_day, close_day), now=now)


def _item_step(
    item: QueueItem,
    *,
    today: date,
    steps: plan.SalesPlan,
    days: tuple[date, date, date, date],
    now: datetime,
) -> str:
    """Move one item on as far as its plan says by ``today``; returns its status."""
    claim_day, decide_day, qualify_day, close_day = days
    user = item.owner
    assert user is not None
    status = item.status
    if status == QueueItem.Status.OPEN and claim_day <= today:
        status = sales.item_claim(item_id=item.pk, user=user, now=now).status
    if status == QueueItem.Status.CLAIMED and decide_day <= today:
        if steps.rejected:
            status = sales.item_act(
                item_id=item.pk, user=user, kind=Outcome.Kind.REJECTED, reason=steps.rejected, now=now
            ).status
        else:
            status = sales.item_act(item_id=item.pk, user=user, kind=Outcome.Kind.ACCEPTED, now=now).status
    if status == QueueItem.Status.ACCEPTED and qualify_day <= today:
        if steps.disqualified:
            status = sales.item_act(
                item_id=item.pk, user=user, kind=Outcome.Kind.DISQUALIFIED, reason=steps.disqualified, now=now
            ).status
        else:
            bant = sales.Bant(**steps.bant)
            status = sales.item_act(item_id=item.pk, user=user, kind=Outcome.Kind.QUALIFIED, bant=bant, now=now).status
    if status == QueueItem.Status.QUALIFIED and close_day <= today:
        score = Lead.objects.values_list("total_score", flat=True).get(pk=item.lead_id)
        if steps.close_draw < plan.won_chance(score):
            status = sales.item_act(item_id=item.pk, user=user, kind=Outcome.Kind.WON, now=now).status
        else:
            status = sales.item_act(
                item_id=item.pk, user=user, kind=Outcome.Kind.LOST, reason=steps.lost_reason, now=now
            ).status
    return status
