"""SLA escalation: a lead left unclaimed past its team's SLA is reassigned or its
team told, once, however often (and in however many workers) the task runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django_celery_beat.models import PeriodicTask

from routing import sales, services, sla
from routing.models import Notification, Outcome, QueueItem, Rep, Team
from scoring.models import Lead
from tests.conftest import at_once
from tests.nurture.conftest import Sink
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, UserFactory

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
Status = QueueItem.Status


def waiting(team: Team, hours: float, **kwargs: object) -> QueueItem:
    return QueueItemFactory.create(team=team, entered_at=NOW - timedelta(hours=hours), **kwargs)


def escalations(item: QueueItem) -> list[str]:
    return list(Outcome.objects.filter(item=item, kind=Outcome.Kind.ESCALATED).values_list("reason", flat=True))


def reps(team: Team, *names: str, **kwargs: object) -> list[Rep]:
    return [RepFactory.create(team=team, user__username=name, **kwargs) for name in names]


@pytest.mark.django_db
def test_an_overdue_lead_goes_to_the_next_rep_once() -> None:
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.REASSIGN)
    ana, ben, cid = reps(team, "ana", "ben", "cid")
    team.last_rep = ana
    team.save(update_fields=["last_rep"])
    late = waiting(team, 5, owner=ben.user)  # assigned to ben, who did not claim it
    unassigned = waiting(team, 6)
    fresh = waiting(team, 3)
    claimed = waiting(team, 9, owner=ana.user, status=Status.CLAIMED)

    assert sla.items_escalate_overdue(now=NOW) == 2

    # Round robin after ana: ben, but ben owns the late one, so cid; then ana again for the other.
    moved = {item.pk: item for item in QueueItem.objects.select_related("lead")}
    assert moved[unassigned.pk].owner_id == ben.user_id  # oldest first: after ana comes ben
    assert moved[late.pk].owner_id == cid.user_id  # not ben again
    for item in (moved[late.pk], moved[unassigned.pk]):
        assert item.escalated_at == NOW
        assert item.status == Status.OPEN  # still waiting, for its new rep
        assert item.lead.owner_id == item.owner_id
    assert escalations(late) == [f"reassigned to user {cid.user_id}"]
    assert moved[fresh.pk].escalated_at is None
    assert moved[claimed.pk].owner_id == ana.user_id
    assert escalations(claimed) == []

    # Once: again now, or later, changes nothing for those two.
    assert sla.items_escalate_overdue(now=NOW) == 0
    assert sla.items_escalate_overdue(now=NOW + timedelta(hours=1, minutes=1)) == 1  # fresh is overdue now
    assert QueueItem.objects.get(pk=late.pk).owner_id == cid.user_id
    assert escalations(late) == [f"reassigned to user {cid.user_id}"]
    assert Outcome.objects.filter(kind=Outcome.Kind.ESCALATED).count() == 3


@pytest.mark.django_db
def test_the_new_rep_can_claim_the_escalated_lead_and_the_old_owner_cannot() -> None:
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.REASSIGN)
    ana, ben = reps(team, "ana", "ben")
    item = waiting(team, 5, owner=ana.user)
    sla.items_escalate_overdue(now=NOW)

    with pytest.raises(sales.ActionRefused, match="Already assigned to ben"):
        sales.item_claim(item_id=item.pk, user=ana.user)
    sales.item_claim(item_id=item.pk, user=ben.user)
    assert QueueItem.objects.get(pk=item.pk).status == Status.CLAIMED


@pytest.mark.django_db
def test_with_no_rep_free_the_team_is_told_instead(smtp: Sink) -> None:
    team = TeamFactory.create(
        name="North", sla_hours=2, sla_action=Team.SlaAction.REASSIGN, email="north@sales.example"
    )
    reps(team, "away", available=False)
    reps(team, "full", capacity=0)
    item = waiting(team, 3, lead__email="ada@example.com")

    assert sla.items_escalate_overdue(now=NOW) == 1

    assert QueueItem.objects.get(pk=item.pk).owner_id is None
    assert escalations(item) == ["notified north@sales.example"]
    assert Notification.objects.get().team_id == team.pk  # the team's, read by its team lead
    assert services.notifications_send() == 1
    [message] = smtp.to("north@sales.example")
    assert message["Subject"] == "SLA missed: ada@example.com waits in North's queue"
    assert "longer than 2 hours, and no rep has it now." in message.get_content()


@pytest.mark.django_db
def test_a_lead_with_the_longest_email_is_told_of_too(smtp: Sink) -> None:
    # An email of 254 characters (anyone's, through a form) and a team's name of 100 passed
    # the subject's column of 300: the escalation failed and was set aside.
    team = TeamFactory.create(name="N" * 100, sla_hours=2, sla_action=Team.SlaAction.NOTIFY, email="n@sales.example")
    email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 53 + ".example"
    item = waiting(team, 3, lead__email=email)

    assert sla.items_escalate_overdue(now=NOW) == 1

    assert escalations(item) == ["notified n@sales.example"]
    assert services.notifications_send() == 1
    [message] = smtp.to("n@sales.example")
    assert " ".join(str(message["Subject"]).split()).startswith(f"SLA missed: {email} waits in NNN")
    assert email in message.get_content()


@pytest.mark.django_db
def test_notify_tells_the_team_lead_once(smtp: Sink) -> None:
    boss = UserFactory.create(username="boss", email="boss@sales.example")
    team = TeamFactory.create(name="South", sla_hours=1, sla_action=Team.SlaAction.NOTIFY, team_lead=boss)
    (rep,) = reps(team, "ana")
    item = waiting(team, 2, owner=rep.user)

    assert sla.items_escalate_overdue(now=NOW) == 1
    assert sla.items_escalate_overdue(now=NOW + timedelta(days=1)) == 0
    assert services.notifications_send() == 1
    assert services.notifications_send() == 0

    assert len(smtp.to("boss@sales.example")) == 1
    assert len(smtp.messages) == 1
    assert QueueItem.objects.get(pk=item.pk).owner_id == rep.user_id  # notify keeps the owner
    assert escalations(item) == ["notified boss@sales.example"]


@pytest.mark.django_db
def test_a_team_with_nobody_to_tell_says_so_in_the_history() -> None:
    team = TeamFactory.create(sla_hours=1, sla_action=Team.SlaAction.NOTIFY, email="")
    item = waiting(team, 2)
    assert sla.items_escalate_overdue(now=NOW) == 1
    assert escalations(item) == ["nobody to notify (the team has no email and no team lead with one)"]
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_team_without_sla_never_escalates() -> None:
    team = TeamFactory.create(sla_hours=None)
    item = waiting(team, 24 * 30)
    assert sla.items_escalate_overdue(now=NOW) == 0
    assert QueueItem.objects.get(pk=item.pk).escalated_at is None


@pytest.mark.django_db
def test_the_escalation_runs_every_five_minutes_with_an_expiry() -> None:
    task = PeriodicTask.objects.select_related("interval").get(task="routing.escalate_sla")
    assert task.enabled
    assert task.interval is not None
    assert (task.interval.every, task.interval.period) == (300, "seconds")
    assert task.expire_seconds == 280


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_workers_escalating_at_once_escalate_each_lead_once(postgres: None) -> None:
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.REASSIGN)
    reps(team, "ana", "ben", "cid")
    items = [waiting(team, 5 + i / 60) for i in range(30)]

    counts = at_once(*[lambda: sla.items_escalate_overdue(now=NOW)] * 3)

    assert sum(counts) == len(items)
    assert Outcome.objects.filter(kind=Outcome.Kind.ESCALATED).count() == len(items)
    owners = list(QueueItem.objects.order_by("entered_at").values_list("owner__username", flat=True))
    assert owners.count("ana") == owners.count("ben") == owners.count("cid") == 10
    assert all(lead.owner is not None for lead in Lead.objects.select_related("owner"))


@pytest.mark.django_db
def test_the_team_is_told_in_the_sites_language(settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"
    team = TeamFactory.create(name="Sur", sla_hours=1, sla_action=Team.SlaAction.NOTIFY, email="sur@ventas.example")
    item = waiting(team, 2)

    assert sla.items_escalate_overdue(now=NOW) == 1

    [told] = Notification.objects.all()
    assert told.subject == f"SLA incumplido: {item.lead} espera en la cola de Sur"
    assert told.body.startswith(f"{item.lead} espera desde el ")
    assert "más de 1 hora, y ahora no lo tiene ningún vendedor." in told.body
