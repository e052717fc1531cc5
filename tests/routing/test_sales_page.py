"""The sales queue page: what a rep sees, in which order, with how many queries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from routing import selectors
from routing.models import Outcome, QueueItem, Rep, Team
from scoring.models import Lead, LeadPrediction, ScoreEntry, ScoringRule, TrainedModel
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory

pytestmark = pytest.mark.django_db
Status = QueueItem.Status


def scored_lead(points: int, **kwargs: object) -> Lead:
    """A lead whose ledger (manual rows) sums to ``points``, cached scores in step."""
    lead = LeadFactory.create(**kwargs)
    if points:
        award(lead, None, points)
    return lead


def award(lead: Lead, rule: ScoringRule | None, points: int, times: int = 1) -> None:
    """``points`` in ``times`` equal rows: a rule's for as many interactions of a month ago
    (older than any a test shows as recent), else manual ones."""
    now = timezone.now()
    ScoreEntry.objects.bulk_create(
        ScoreEntry(
            lead=lead,
            dimension="engagement",
            delta=points // times,
            cause="rule" if rule else "manual",
            rule=rule,
            interaction=InteractionFactory.create(lead=lead, occurred_at=now - timedelta(days=30)) if rule else None,
            occurred_at=now,
        )
        for _ in range(times)
    )
    Lead.objects.filter(pk=lead.pk).update(engagement_score=lead.engagement_score + points)
    lead.refresh_from_db()


def queued(rep: Rep, points: int, *, hours_ago: float = 1, **kwargs: object) -> QueueItem:
    entered = timezone.now() - timedelta(hours=hours_ago)
    fields: dict[str, object] = {"team": rep.team, "entered_at": entered, **kwargs}
    return QueueItemFactory.create(lead=scored_lead(points), **fields)


def signed_in(rep: Rep) -> Client:
    client = Client()
    client.force_login(rep.user)
    return client


def test_a_rep_sees_own_open_leads_and_the_team_unclaimed_ones_by_priority() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    other_team = RepFactory.create()
    waiting_50_longer = queued(alice, 50, hours_ago=3)
    waiting_50 = queued(alice, 50, hours_ago=2)
    waiting_80 = queued(alice, 80)
    mine_claimed = queued(alice, 30, owner=alice.user, status=Status.CLAIMED)
    mine_assigned = queued(alice, 90, owner=alice.user)
    mine_qualified = queued(alice, 20, owner=alice.user, status=Status.QUALIFIED)
    queued(alice, 95, owner=bob.user, status=Status.CLAIMED)  # bob's
    queued(alice, 96, owner=bob.user)  # assigned to bob
    queued(alice, 97, owner=alice.user, status=Status.WON)  # closed
    queued(alice, 98, status=Status.REJECTED)  # closed, nobody's
    queued(other_team, 99)  # another team's queue

    response = signed_in(alice).get(reverse("sales:queue"))

    assert response.status_code == 200
    rows = response.context["queue"].rows
    assert [row.item for row in rows] == [
        mine_assigned,
        waiting_80,
        waiting_50_longer,
        waiting_50,
        mine_claimed,
        mine_qualified,
    ]
    assert [row.actions for row in rows] == [
        ("accepted", "rejected", "disqualified", "released"),
        ("claim",),
        ("claim",),
        ("claim",),
        ("accepted", "rejected", "qualified", "disqualified", "released"),
        ("disqualified", "won", "lost"),
    ]
    html = response.content.decode()
    assert "Assigned to you" in html
    assert "Unclaimed" in html
    assert f'id="item-{mine_assigned.pk}"' in html


def test_each_lead_shows_reasons_adding_up_to_its_score_and_last_three_interactions() -> None:
    rep = RepFactory.create()
    lead = LeadFactory.create(first_name="Ada", last_name="Lovelace", company="Engines Ltd")
    rules = {
        name: ScoringRuleFactory.create(name=name)
        for name in ("Visited pricing", "Opened emails", "Asked for a demo", "Read the blog")
    }
    award(lead, rules["Visited pricing"], 15, times=3)
    award(lead, rules["Opened emails"], 4, times=2)
    award(lead, rules["Asked for a demo"], 30)
    award(lead, rules["Read the blog"], 2)
    award(lead, None, -5)  # a manual cut counts too: the reasons add up to the score
    base = timezone.now() - timedelta(days=1)
    for hours, kind, props in [
        (1, "email_open", {"subject": "Spring catalogue"}),
        (2, "page_view", {"url": "https://shop.example/pricing"}),
        (3, "form_submit", {"form": "demo-request"}),
        (4, "email_click", {"campaign": "old-news"}),
    ]:
        InteractionFactory.create(lead=lead, type=kind, properties=props, occurred_at=base + timedelta(hours=hours))
    QueueItemFactory.create(lead=lead, team=rep.team, entered_at=timezone.now())

    response = signed_in(rep).get(reverse("sales:queue"))

    (row,) = response.context["queue"].rows
    assert [(r.label, r.points, r.times) for r in row.reasons] == [
        ("Asked for a demo", 30, 1),
        ("Visited pricing", 15, 3),
        ("Manual adjustment", -5, 1),
        ("Opened emails", 4, 2),
        ("Read the blog", 2, 1),
    ]
    assert sum(r.points for r in row.reasons) == row.item.lead.total_score == 46
    assert [i.detail for i in row.interactions] == [
        "old-news",
        "demo-request",
        "https://shop.example/pricing",
    ]
    html = response.content.decode()
    assert "Ada Lovelace" in html
    assert "Read the blog" in html
    assert '<span class="points negative">-5</span>' in html
    assert '<span class="points">+30</span>' in html
    assert "old-news" in html
    assert "Spring catalogue" not in html
    assert "Together: 46" in html


def test_a_rule_rescored_is_one_reason_counting_the_interactions_it_still_scores() -> None:
    rep = RepFactory.create()
    lead = LeadFactory.create()
    rule = ScoringRuleFactory.create(name="Visited pricing")
    award(lead, rule, 15, times=3)
    # A rescore under a new cap takes back one visit's award and raises another's.
    first, second, _ = ScoreEntry.objects.filter(lead=lead, rule=rule).order_by("pk")
    for entry, delta in ((first, -5), (second, 2)):
        ScoreEntry.objects.create(
            lead=lead, dimension="engagement", delta=delta, cause="rescore", rule=rule,
            interaction_id=entry.interaction_id, occurred_at=timezone.now(),
        )  # fmt: skip
    Lead.objects.filter(pk=lead.pk).update(engagement_score=12)
    QueueItemFactory.create(lead=lead, team=rep.team, entered_at=timezone.now())

    (row,) = signed_in(rep).get(reverse("sales:queue")).context["queue"].rows

    assert [(r.label, r.points, r.times) for r in row.reasons] == [("Visited pricing", 12, 2)]


def test_fit_points_and_many_causes_still_add_up_to_the_score() -> None:
    rep = RepFactory.create()
    lead = LeadFactory.create()
    fit = ScoringRuleFactory.create(name="Works in toys", dimension="fit")
    now = timezone.now()
    ScoreEntry.objects.create(lead=lead, dimension="fit", delta=12, cause="rule", rule=fit, occurred_at=now)
    ScoreEntry.objects.create(lead=lead, dimension="engagement", delta=-3, cause="decay", occurred_at=now)
    for n in range(6):
        award(lead, ScoringRuleFactory.create(name=f"Small thing {n}"), n + 1)
    Lead.objects.filter(pk=lead.pk).update(fit_score=12, engagement_score=lead.engagement_score - 3)
    QueueItemFactory.create(lead=lead, team=rep.team, entered_at=timezone.now())

    (row,) = signed_in(rep).get(reverse("sales:queue")).context["queue"].rows

    assert row.item.lead.total_score == 12 - 3 + 21
    assert sum(r.points for r in row.reasons) == row.item.lead.total_score
    assert [(r.label, r.points) for r in row.reasons][:2] == [("Works in toys", 12), ("Small thing 5", 6)]
    assert len(row.reasons) == selectors.REASONS_SHOWN
    other = row.reasons[-1]
    # What is not shown by name is one line: decay -3 and the smallest awards 1 + 2 + 3.
    assert (other.label, other.points) == ("Other causes", -3 + 1 + 2 + 3)


def test_a_card_links_to_the_lead_timeline_only_for_those_who_may_open_it() -> None:
    rep = RepFactory.create()
    item = queued(rep, 40)
    timeline = reverse("admin:scoring_lead_change", args=[item.lead_id]) + "#timeline"

    assert timeline not in signed_in(rep).get(reverse("sales:queue")).content.decode()

    # A sales manager who is staff and may view leads in the admin.
    rep.user.is_staff = True
    rep.user.save(update_fields=["is_staff"])
    rep.user.user_permissions.add(Permission.objects.get(codename="view_lead", content_type__app_label="scoring"))
    page = signed_in(rep).get(reverse("sales:queue")).content.decode()
    assert f'href="{timeline}"' in page
    assert signed_in(rep).get(timeline.split("#")[0]).status_code == 200


def test_sla_age_is_shown_and_highlighted_when_a_waiting_lead_is_past_the_team_sla() -> None:
    rep = RepFactory.create(team=TeamFactory.create(sla_hours=4))
    late = queued(rep, 10, hours_ago=5)
    fresh = queued(rep, 10, hours_ago=1)
    late_but_claimed = queued(rep, 10, hours_ago=6, owner=rep.user, status=Status.CLAIMED)

    response = signed_in(rep).get(reverse("sales:queue"))

    overdue = {row.item.pk: row.overdue for row in response.context["queue"].rows}
    assert overdue == {late.pk: True, fresh.pk: False, late_but_claimed.pk: False}
    html = response.content.decode()
    assert html.count("Over SLA") == 1
    assert "in queue 5 h<" in html.replace("\n", "").replace("  ", "")
    assert "in queue 1 h<" in html.replace("\n", "").replace("  ", "")


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(seconds=-3), "0 s"),
        (timedelta(seconds=42), "42 s"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(days=2), "2 d"),
        (timedelta(days=2, hours=4, minutes=59), "2 d 4 h"),
    ],
)
def test_waiting_times_read_short(delta: timedelta, shown: str) -> None:
    assert selectors.duration_short(delta) == shown


def test_no_sla_means_nothing_is_overdue() -> None:
    rep = RepFactory.create(team=TeamFactory.create(sla_hours=None))
    queued(rep, 10, hours_ago=500)
    response = signed_in(rep).get(reverse("sales:queue"))
    assert [row.overdue for row in response.context["queue"].rows] == [False]


def _fill(rep: Rep, count: int) -> None:
    rules = [ScoringRuleFactory.create() for _ in range(4)]
    for n in range(count):
        item = queued(rep, n, hours_ago=n + 1, owner=rep.user if n % 3 == 0 else None)
        for rule in rules:
            award(item.lead, rule, 3, times=2)
        for k in range(4):
            InteractionFactory.create(lead=item.lead, occurred_at=timezone.now() - timedelta(hours=k))


def _queries_for_page(client: Client, page: int = 1) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("sales:queue"), {"page": page})
    assert response.status_code == 200
    return len(queries)


def test_the_page_makes_the_same_number_of_queries_for_5_or_40_leads() -> None:
    few, many = RepFactory.create(), RepFactory.create()
    ScoreGroupFactory.create(min_score=0)
    _fill(few, 5)
    _fill(many, 40)
    # With a feedback deadline, some leads answered and some overdue: still no query per card.
    Team.objects.update(feedback_days=1)
    for item in QueueItem.objects.filter(owner__isnull=False):
        Outcome.objects.create(item=item, lead=item.lead, kind="accepted", total_score=0, at=timezone.now())
    many.team.refresh_from_db()
    shown = selectors.queue_page(rep=many).rows + selectors.queue_page(rep=many, page=2).rows
    assert {row.feedback_overdue for row in shown} == {0, 1}
    few_client, many_client = signed_in(few), signed_in(many)
    _queries_for_page(few_client)  # warm the session and permission caches alike
    _queries_for_page(many_client)

    assert _queries_for_page(few_client) == _queries_for_page(many_client) == _queries_for_page(many_client, 2)
    # session, user, permissions (2), rep, count, items, reasons, predictions, interactions
    assert _queries_for_page(many_client) <= 10


def test_pages_hold_25_leads_and_link_to_each_other() -> None:
    rep = RepFactory.create()
    for n in range(30):
        queued(rep, 100 - n)
    client = signed_in(rep)

    first = client.get(reverse("sales:queue"))
    second = client.get(reverse("sales:queue"), {"page": 2})
    beyond = client.get(reverse("sales:queue"), {"page": 99})

    assert len(first.context["queue"].rows) == 25
    assert "?page=2" in first.content.decode()
    assert [row.item.lead.total_score for row in second.context["queue"].rows] == [75, 74, 73, 72, 71]
    assert "Page 2 of 2" in second.content.decode()
    assert beyond.context["queue"].page.number == 2  # the last page, not an error
    # A page number that is none is the first page, as on an account's ledger in the admin.
    for odd in ("0", "-1", "²", "9" * 10, "two"):
        assert client.get(reverse("sales:queue"), {"page": odd}).context["queue"].page.number == 1, odd


def test_an_empty_queue_says_so() -> None:
    rep = RepFactory.create()
    response = signed_in(rep).get(reverse("sales:queue"))
    assert "Nothing waiting" in response.content.decode()


def test_selector_reads_only_the_leads_given() -> None:
    lead, other = LeadFactory.create(), LeadFactory.create()
    InteractionFactory.create(lead=other)
    assert selectors.leads_recent_interactions(lead_ids=[lead.pk]) == {}
    assert selectors.leads_score_reasons(lead_ids=[]) == {}


def waiting_in(team_id: int | None = None) -> dict[int, int | None]:
    """Each lead's queue_team_id, and what the items say it must be."""
    expected = dict.fromkeys(Lead.objects.values_list("pk", flat=True))
    for lead_id, team in QueueItem.objects.filter(status=Status.OPEN, owner__isnull=True).values_list(
        "lead_id", "team_id"
    ):
        expected[lead_id] = team
    actual = dict(Lead.objects.values_list("pk", "queue_team_id"))
    assert actual == expected
    return actual


def test_the_page_index_follows_every_change_of_an_item() -> None:
    """Lead.queue_team_id (what the page reads a team's waiting leads from) stays what
    the items say through routing, claims, assignment, SLA escalation and verdicts."""
    from routing import sales, services, sla

    team = TeamFactory.create(assignment="round_robin", sla_hours=1, sla_action="reassign")
    ana = RepFactory.create(team=team, capacity=1, user__username="ana")
    ben = RepFactory.create(team=team, capacity=0, user__username="ben")
    leads = [scored_lead(points) for points in (30, 20, 10)]
    now = timezone.now()

    services.leads_queue(team=team, lead_ids=[lead.pk for lead in leads], now=now - timedelta(hours=2))
    assert sorted(t for t in waiting_in().values() if t) == [team.pk, team.pk]  # ana took one, two wait
    assert [row.item.lead_id for row in selectors.queue_page(rep=ben).rows] == [leads[1].pk, leads[2].pk]

    sales.item_claim(item_id=QueueItem.objects.get(lead=leads[1]).pk, user=ben.user)
    waiting_in()
    assert [row.item.lead_id for row in selectors.queue_page(rep=ana).rows] == [leads[0].pk, leads[2].pk]

    Rep.objects.filter(pk=ben.pk).update(capacity=5)
    assert sla.items_escalate_overdue(now=now) == 2  # ana's unclaimed one and the waiting one go to ben
    waiting_in()
    assert selectors.queue_page(rep=ana).rows == []

    services.leads_assign(team=team, lead_ids=[leads[2].pk])
    sales.item_act(item_id=QueueItem.objects.get(lead=leads[1]).pk, user=ben.user, kind="rejected", reason="no")
    assert set(waiting_in().values()) == {None}


# --- The feedback deadline -------------------------------------------------------------


def test_a_lead_without_feedback_is_overdue_once_the_teams_days_are_past() -> None:
    rep = RepFactory.create(team=TeamFactory.create(feedback_days=2))
    item = queued(rep, 10, hours_ago=1)
    deadline = item.entered_at + timedelta(days=2)

    def overdue(now: datetime) -> int:
        (row,) = selectors.queue_page(rep=rep, now=now).rows
        return row.feedback_overdue

    assert overdue(deadline - timedelta(seconds=1)) == 0
    assert overdue(deadline) == 0  # exactly 2 days: the last moment of the deadline
    assert overdue(deadline + timedelta(seconds=1)) == 1  # a day begun past it
    assert overdue(deadline + timedelta(days=1)) == 1
    assert overdue(deadline + timedelta(days=1, seconds=1)) == 2
    assert overdue(deadline + timedelta(days=9, hours=3)) == 10


@pytest.mark.parametrize(
    ("kinds", "overdue"),
    [
        ((), 2),  # 70 h after the hand-off, 46 h past a 1-day deadline: the second day begun
        (("claimed",), 2),  # taking the lead is no feedback
        (("escalated", "claimed"), 2),
        (("accepted",), 0),
        (("opportunity",), 0),  # a CRM's word counts
        (("claimed", "rejected"), 0),
    ],
)
def test_only_an_outcome_other_than_claimed_or_escalated_is_feedback(kinds: tuple[str, ...], overdue: int) -> None:
    rep = RepFactory.create(team=TeamFactory.create(feedback_days=1))
    item = queued(rep, 10, hours_ago=70, owner=rep.user, status=Status.CLAIMED)
    for kind in kinds:
        Outcome.objects.create(item=item, lead=item.lead, kind=kind, total_score=0, at=timezone.now())
    (row,) = selectors.queue_page(rep=rep).rows
    assert row.feedback_overdue == overdue


def test_the_deadline_is_the_teams_own_and_blank_is_none() -> None:
    strict = RepFactory.create(team=TeamFactory.create(feedback_days=1))
    lenient = RepFactory.create(team=TeamFactory.create(feedback_days=5))
    none = RepFactory.create(team=TeamFactory.create(feedback_days=None))
    for rep in (strict, lenient, none):
        queued(rep, 10, hours_ago=3 * 24 + 1)  # 3 days and an hour ago
    assert [row.feedback_overdue for row in selectors.queue_page(rep=strict).rows] == [3]
    assert [row.feedback_overdue for row in selectors.queue_page(rep=lenient).rows] == [0]
    assert [row.feedback_overdue for row in selectors.queue_page(rep=none).rows] == [0]


def test_the_page_shows_a_badge_with_the_days_overdue() -> None:
    rep = RepFactory.create(team=TeamFactory.create(name="North", feedback_days=2))
    late = queued(rep, 20, hours_ago=4 * 24 + 2)  # 2 days and 2 hours past the deadline: day 3 begun
    fresh = queued(rep, 10, hours_ago=1)
    answered = queued(rep, 5, hours_ago=10 * 24, owner=rep.user, status=Status.ACCEPTED)
    Outcome.objects.create(item=answered, lead=answered.lead, kind="accepted", total_score=0, at=timezone.now())

    html = signed_in(rep).get(reverse("sales:queue")).content.decode()

    cards = {pk: html.split(f'id="item-{pk}"', 1)[1].split("</li>", 1)[0] for pk in (late.pk, fresh.pk, answered.pk)}
    assert "Feedback overdue 3 days" in cards[late.pk]
    assert "Feedback overdue" not in cards[fresh.pk]
    assert "Feedback overdue" not in cards[answered.pk]
    assert html.count("badge-feedback-overdue") == 1
    assert "within 2 days of the hand-off" in html


def test_a_team_feedback_deadline_is_at_least_a_day() -> None:
    from django.core.exceptions import ValidationError

    team = TeamFactory.build(key="zero", name="Zero", feedback_days=0)
    with pytest.raises(ValidationError) as refused:
        team.full_clean()
    assert "feedback_days" in refused.value.message_dict


def predicted(item: QueueItem, probability: float, *reasons: str) -> None:
    model = TrainedModel.objects.get_or_create(number=1, defaults={"algorithm": "logistic", "fitted": b""})[0]
    LeadPrediction.objects.create(
        lead=item.lead,
        model=model,
        probability=probability,
        reasons=[{"text": text, "effect": 0.1} for text in reasons],
        computed_at=timezone.now(),
    )


def test_each_card_shows_the_chance_to_convert_and_a_rep_may_sort_by_it() -> None:
    rep = RepFactory.create()
    high_score = queued(rep, 90)
    likely = queued(rep, 20)
    unknown = queued(rep, 50)
    predicted(high_score, 0.12, "- student email domain")
    predicted(likely, 0.874, "+ visited pricing 3 times", "+ Lead Source: Reference")
    client = signed_in(rep)

    by_score = client.get(reverse("sales:queue"))
    assert [row.item.pk for row in by_score.context["queue"].rows] == [high_score.pk, unknown.pk, likely.pk]
    html = by_score.content.decode()
    assert "87% to convert" in html
    assert "12% to convert" in html
    assert "+ visited pricing 3 times" in html

    by_chance = client.get(reverse("sales:queue"), {"sort": "probability"})
    # Highest chance first; a lead no model scored comes last.
    assert [row.item.pk for row in by_chance.context["queue"].rows] == [likely.pk, high_score.pk, unknown.pk]
    assert "<strong>chance to convert</strong>" in by_chance.content.decode()

    odd = client.get(reverse("sales:queue"), {"sort": "'; DROP TABLE scoring_lead; --"})
    assert [row.item.pk for row in odd.context["queue"].rows] == [high_score.pk, unknown.pk, likely.pk]


@pytest.mark.parametrize(
    ("email", "link"),
    [
        ("ana?bcc=spy@evil.example", "mailto:ana%3Fbcc%3Dspy@evil.example"),
        ("ana&cc=boss@toys.example", "mailto:ana%26cc%3Dboss@toys.example"),
        ("ana#x@toys.example", "mailto:ana%23x@toys.example"),
        ("ana@toys.example", "mailto:ana@toys.example"),
    ],
)
def test_a_leads_email_link_writes_only_to_the_lead(email: str, link: str) -> None:
    """An address may hold ?, & and # (bob?bcc=spy@evil.example is one): written as is in
    the mailto link, the rep's mail client read them as the link's own headers and added a
    copy to someone else, or a subject or body the lead chose."""
    rep = RepFactory.create()
    QueueItemFactory.create(lead=LeadFactory.create(email=email), team=rep.team)

    page = signed_in(rep).get(reverse("sales:queue")).content.decode()

    assert f'href="{link}"' in page
