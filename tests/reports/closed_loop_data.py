"""A small history to check the closed-loop reports by hand: five leads, their ledger,
six hand-offs to two teams, what sales did, and two nurture sequences.

    lead  fit, engagement at hand-off  group  grid  source        won
    L1    15, 30                        hot    A2    form:contact  yes (I1, Nov 2 15:00)
    L2    15, 0 (+30 on Nov 10)         none   A4    api:abc       no
    L3     0, 30                        warm   D2    form:webinar  yes (I3, Dec 1)
    L4    15, 25 (30 - 5)               hot    A2    tracking      no
    L5     0, 0                         none   D4    (none)        no

Hand-offs: I1 L1 North Nov 2 09:00 (won); I2 L2 North Nov 3 (rejected); I3 L3 South Nov 4
(escalated, then won); I4 L4 North Dec 1 (disqualified); I5 L1 North Nov 20 (waiting,
unclaimed); I6 L5 South Nov 21 (rejected unclaimed).

Score groups: warm 20+, hot 40+. Rules: "Demo request" (engagement +30), "Right industry"
(fit +15), "Careers page" (engagement -5; L1's award was taken back whole by a rescore).
Every lead was created on Nov 1, but L5 on Oct 15. Teams: North (SLA 4 h: alice, bob),
South (SLA 2 h: carol). North gives feedback within 2 days; South
promises no deadline. The tests say what each report must show from this.

Campaigns: spring (Spring sale, email, cost 1000), ads (Search ads, paid search, cost
600), webinar (Autumn webinar, events, no cost); fb-promo is carried but not defined.

    lead  campaign touches                      first    last     stages reached        won amount
    L1    spring Nov 1 10:00, webinar Nov 3     spring   webinar  mql, sql, customer    3000
    L2    ads Nov 2                             ads      ads      mql
    L3    webinar Oct 31, spring Nov 6          webinar  spring   customer (now only)   500
    L4    fb-promo Nov 4                        fb-promo fb-promo mql, disqualified
    L5    spring Nov 7 (no other interaction)   spring   spring   mql
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

from django.contrib.auth.models import Permission, User
from django.utils import timezone

from nurture.models import Delivery, Enrollment, Sequence, Step
from reports import origins
from routing.models import Outcome, QueueItem, Rep, Team
from scoring.models import Campaign, Interaction, Lead, ScoreEntry, ScoreGroup, ScoringRule, StageChange
from tests.factories import LeadFactory, ScoreGroupFactory, ScoringRuleFactory
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import RepFactory, TeamFactory, UserFactory, group, marketer

_keys = count()


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def reader(**kwargs: object) -> User:
    """A marketer who may read the reports (Marketing, with the reports' permission even
    after a transactional test's flush took the migration's grant away)."""
    user = marketer(**kwargs)
    group("Marketing").permissions.add(
        Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    )
    return user


def ledger(lead: Lead, rule: ScoringRule, delta: int, written: datetime, cause: str = "rule") -> None:
    """A ledger row written at ``written`` (the reports read scores back by that time)."""
    entry = ScoreEntry.objects.create(
        lead=lead, dimension=rule.dimension, delta=delta, cause=cause, rule=rule, occurred_at=written
    )
    ScoreEntry.objects.filter(pk=entry.pk).update(created_at=written)


def outcome(item: QueueItem, kind: str, when: datetime, user: User | None, reason: str = "") -> None:
    Outcome.objects.create(item=item, lead=item.lead, kind=kind, reason=reason, total_score=0, user=user, at=when)


def came_from(lead: Lead, source: str, when: datetime) -> None:
    Interaction.objects.create(
        lead=lead, type="page_view", occurred_at=when, source=source, idempotency_key=f"src-{next(_keys)}"
    )


def deliver(
    enrollment: Enrollment, step: Step, when: datetime, *, status: str = "sent", opens: int = 0, clicks: int = 0
) -> None:
    Delivery.objects.create(
        enrollment=enrollment,
        step=step,
        message_id=f"<m{next(_keys)}@leadflow.example>",
        status=status,
        sent_at=when if status == "sent" else None,
        opens=opens,
        clicks=clicks,
        created_at=when,
        updated_at=when,
    )


def rebuilt() -> int:
    """Every lead's origin rebuilt (as the nightly task does), the interactions just
    recorded counted as settled."""
    return origins.origins_rebuild(now=timezone.now() + origins.SETTLE + timedelta(minutes=1))


def touched(lead: Lead, campaign: str, when: datetime, kind: str = "email_click") -> None:
    """An interaction carrying a campaign, as nurture's clicks do (no source of its own)."""
    Interaction.objects.create(
        lead=lead, type=kind, occurred_at=when, properties={"campaign": campaign}, idempotency_key=f"cmp-{next(_keys)}"
    )


def staged(lead: Lead, *stages: tuple[str, datetime], now: str | None = None) -> None:
    """The lead's stage history (from ``lead`` on), and its stage now (else the last one)."""
    before = "lead"
    for stage, when in stages:
        StageChange.objects.create(lead=lead, from_stage=before, to_stage=stage, at=when, cause="routing")
        before = stage
    Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=now or before)


def campaign_history(leads: list[Lead]) -> None:
    l1, l2, l3, l4, l5 = leads
    Campaign.objects.create(key="spring", name="Spring sale", channel="email", cost=1000)
    Campaign.objects.create(key="ads", name="Search ads", channel="paid search", cost=600)
    Campaign.objects.create(key="webinar", name="Autumn webinar", channel="events")
    touched(l1, "spring", at(11, 1, 10))
    touched(l1, "webinar", at(11, 3))
    touched(l2, "ads", at(11, 2))
    touched(l3, "spring", at(11, 6))
    touched(l3, "webinar", at(10, 31), kind="webinar")  # recorded later, happened first
    touched(l4, "fb-promo", at(11, 4))
    touched(l5, "spring", at(11, 7))
    staged(l1, ("mql", at(11, 1, 12)), ("sql", at(11, 2, 11)), ("customer", at(11, 2, 15)))
    staged(l2, ("mql", at(11, 3)))
    staged(l3, now="customer")  # became one before the stage history was kept
    staged(l4, ("mql", at(11, 30)), ("disqualified", at(12, 1, 10)))
    staged(l5, ("mql", at(11, 20)))
    Outcome.objects.filter(lead=l1, kind="won").update(amount=3000)
    Outcome.objects.filter(lead=l3, kind="won").update(amount=500)


@dataclass
class History:
    leads: list[Lead]
    items: list[QueueItem]
    teams: dict[str, Team]
    reps: dict[str, User]
    rules: dict[str, ScoringRule]
    groups: dict[str, ScoreGroup]
    sequences: dict[str, Sequence] = field(default_factory=dict)


def closed_loop_history() -> History:
    groups = {
        "warm": ScoreGroupFactory.create(key="warm", name="Warm", min_score=20),
        "hot": ScoreGroupFactory.create(key="hot", name="Hot", min_score=40),
    }
    demo = ScoringRuleFactory.create(name="Demo request", dimension="engagement", points=30)
    industry = ScoringRuleFactory.create(name="Right industry", dimension="fit", points=15, interaction_types=[])
    careers = ScoringRuleFactory.create(name="Careers page", dimension="engagement", points=-5)
    north = TeamFactory.create(key="north", name="North", sla_hours=4, feedback_days=2)
    south = TeamFactory.create(key="south", name="South", sla_hours=2)
    alice = RepFactory.create(user__username="alice", team=north).user
    bob = RepFactory.create(user__username="bob", team=north).user
    carol = RepFactory.create(user__username="carol", team=south).user

    leads = [LeadFactory.create(first_name=f"L{i}") for i in range(1, 6)]
    l1, l2, l3, l4, l5 = leads
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(created_at=at(11, 1, 8))
    Lead.objects.filter(pk=l5.pk).update(created_at=at(10, 15, 8))

    came_from(l1, "form:contact", at(10, 30))
    came_from(l1, "api:abc", at(11, 5))  # later: the first interaction's source counts
    came_from(l2, "api:abc", at(10, 30))
    came_from(l3, "form:webinar", at(10, 30))
    came_from(l4, "tracking", at(10, 30))

    ledger(l1, industry, 15, at(11, 1, 10))
    ledger(l1, demo, 30, at(11, 1, 11))
    ledger(l1, careers, -5, at(11, 1, 12))
    ledger(l1, careers, 5, at(11, 1, 13), cause="rescore")  # taken back whole
    ledger(l2, industry, 15, at(11, 1, 10))
    ledger(l2, demo, 30, at(11, 10))  # after its hand-off on Nov 3
    ledger(l3, demo, 30, at(11, 1, 10))
    ledger(l4, industry, 15, at(11, 1, 10))
    ledger(l4, demo, 30, at(11, 1, 11))
    ledger(l4, careers, -5, at(11, 1, 12))

    def item(lead: Lead, team: Team, entered: datetime, **fields: object) -> QueueItem:
        return QueueItem.objects.create(lead=lead, team=team, entered_at=entered, **fields)

    i1 = item(l1, north, at(11, 2), owner=alice, status="won", claimed_at=at(11, 2, 10), closed_at=at(11, 2, 15))
    outcome(i1, "claimed", at(11, 2, 10), alice)
    outcome(i1, "accepted", at(11, 2, 11), alice)
    outcome(i1, "won", at(11, 2, 15), alice)
    i2 = item(l2, north, at(11, 3), owner=bob, status="rejected", claimed_at=at(11, 3, 15), closed_at=at(11, 3, 15, 30))
    outcome(i2, "claimed", at(11, 3, 15), bob)
    outcome(i2, "rejected", at(11, 3, 15, 30), bob, "No budget")
    i3 = item(l3, south, at(11, 4), owner=carol, status="won", claimed_at=at(11, 4, 12), escalated_at=at(11, 4, 11, 30))
    outcome(i3, "escalated", at(11, 4, 11, 30), None)
    outcome(i3, "claimed", at(11, 4, 12), carol)
    outcome(i3, "accepted", at(11, 4, 12, 30), carol)
    outcome(i3, "qualified", at(11, 5, 10), carol)
    outcome(i3, "won", at(12, 1, 10), carol)
    i4 = item(
        l4, north, at(12, 1), owner=alice, status="disqualified", claimed_at=at(12, 1, 9, 12), closed_at=at(12, 1, 10)
    )
    outcome(i4, "claimed", at(12, 1, 9, 12), alice)
    outcome(i4, "disqualified", at(12, 1, 10), alice, "Student")
    i5 = item(l1, north, at(11, 20))  # L1 again, later: waiting, unclaimed
    i6 = item(l5, south, at(11, 21), owner=carol, status="rejected", closed_at=at(11, 21, 10))
    outcome(i6, "rejected", at(11, 21, 10), carol, "Not ready")

    welcome = SequenceFactory.create(key="welcome", name="Welcome")
    long_term = SequenceFactory.create(key="long-term", name="Long-term")
    hello = StepFactory.create(sequence=welcome, position=1, subject_template="Hello")
    offer = StepFactory.create(sequence=welcome, position=2, subject_template="Offer")
    still = StepFactory.create(sequence=long_term, position=1, subject_template="Still there?")

    def enroll(lead: Lead, sequence: Sequence, position: int, status: str = "active", reason: str = "") -> Enrollment:
        return Enrollment.objects.create(
            lead=lead, sequence=sequence, position=position, status=status, exit_reason=reason, enrolled_at=at(10, 31)
        )

    e1 = enroll(l1, welcome, 2, "exited", "converted")
    deliver(e1, hello, at(11, 1), opens=2, clicks=1)
    deliver(e1, offer, at(11, 2, 8), opens=1)
    e2 = enroll(l2, welcome, 1, "exited", "bounced")
    deliver(e2, hello, at(11, 1))
    deliver(e2, offer, at(11, 2, 8), status="bounced")
    e3 = enroll(l3, welcome, 1, "exited", "unsubscribed")
    deliver(e3, hello, at(11, 1), opens=1, clicks=1)
    e4 = enroll(l4, long_term, 1)
    deliver(e4, still, at(11, 5), opens=1)
    e5 = enroll(l1, long_term, 1)
    deliver(e5, still, at(12, 3))  # after L1 was won: not "converted afterwards"

    campaign_history(leads)

    return History(
        leads=leads,
        items=[i1, i2, i3, i4, i5, i6],
        teams={"north": north, "south": south},
        reps={"alice": alice, "bob": bob, "carol": carol},
        rules={"demo": demo, "industry": industry, "careers": careers},
        groups=groups,
        sequences={"welcome": welcome, "long-term": long_term},
    )


def more_history(history: History, n: int) -> None:
    """``n`` more leads like L1..L4 (scored, handed off to a new rep each, claimed, accepted,
    some won or rejected, nurtured): to check that a report's queries do not grow with them."""
    for i in range(n):
        team = history.teams["north"] if i % 2 else history.teams["south"]
        user = UserFactory.create()
        Rep.objects.create(user=user, team=team)
        lead = LeadFactory.create()
        came_from(lead, f"form:extra-{i}", at(10, 30))
        ledger(lead, history.rules["industry"], 15, at(11, 1, 10))
        ledger(lead, history.rules["demo"], 30, at(11, 1, 11))
        entered = at(11, 6 + i % 20)
        handed = QueueItem.objects.create(
            lead=lead, team=team, entered_at=entered, owner=user, status="claimed", claimed_at=at(11, 6 + i % 20, 10)
        )
        outcome(handed, "claimed", at(11, 6 + i % 20, 10), user)
        outcome(handed, "accepted", at(11, 6 + i % 20, 11), user)
        if i % 3 == 0:
            outcome(handed, "won", at(11, 6 + i % 20, 12), user)
        elif i % 3 == 1:
            outcome(handed, "rejected", at(11, 6 + i % 20, 12), user, f"Reason {i % 4}")
        touched(lead, "spring", at(11, 2))
        touched(lead, f"extra-{i}", at(11, 3))  # not defined: a row of its own
        staged(lead, ("mql", at(11, 4)))
        sequence = history.sequences["welcome"]
        enrollment = Enrollment.objects.create(lead=lead, sequence=sequence, position=1, enrolled_at=at(10, 31))
        deliver(enrollment, sequence.steps.get(position=1), at(11, 1), opens=i % 2)
