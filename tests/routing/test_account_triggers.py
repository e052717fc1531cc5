"""Routing on account groups: "account becomes hot -> route its best lead to sales, notify
the account owner", with routing's own rules and actions, once per crossing whatever runs
twice, crashes or runs at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from routing import services
from routing.models import ActionRun, Notification, QueueItem, RoutingRule, Team
from routing.tasks import transitions_route_task
from scoring import accounts as pure
from scoring import model_file
from scoring import services as scoring
from scoring.models import Account, AccountGroup, AccountSettings, AccountTransition, GroupTransition, Lead
from scoring.tasks import interactions_score_pending_task
from tests.conftest import Workers, at_once, wait_for
from tests.factories import ScoringRuleFactory
from tests.routing.factories import TeamFactory, UserFactory, adjust, rule

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def hot() -> AccountGroup:
    AccountSettings.objects.update_or_create(pk=1, defaults={"rollup": pure.Rollup.SUM.value})
    AccountGroup.objects.create(key="engaged", name="Engaged", min_score=40)
    return AccountGroup.objects.create(key="hot", name="Hot", min_score=80, leave_below=70)


def account_hot_rule(hot: AccountGroup, team: Team) -> RoutingRule:
    return rule(
        "account_enters_group",
        {"kind": "route_to_queue", "team": team},
        {"kind": "notify", "message": "Call them today"},
        account_group=hot,
    )


def acme(owner_email: str = "olga@leadflow.example") -> tuple[Account, Lead, Lead]:
    owner = UserFactory.create(username="olga", email=owner_email)
    account = Account.objects.create(name="Acme", domain="acme.com", owner=owner)
    ana = Lead.objects.create(email="ana@acme.com", account=account)
    luis = Lead.objects.create(email="luis@acme.com", account=account)
    return account, ana, luis


def score(lead: Lead, delta: int) -> None:
    """Move a lead's score and let its account follow (what the scoring sweep does)."""
    adjust(lead, delta)
    scoring.accounts_refresh_pending()


@pytest.mark.django_db
def test_an_account_becoming_hot_routes_its_best_lead_and_notifies_its_owner(
    hot: AccountGroup, admin_client: Client
) -> None:
    team = TeamFactory.create(key="enterprise", name="Enterprise", assignment="queue")
    account_hot_rule(hot, team)
    _, ana, luis = acme()
    score(ana, 30)
    score(luis, 45)  # 75: engaged, not hot
    services.transitions_route(now=T0)
    assert not QueueItem.objects.exists()

    score(ana, 10)  # 85: hot; luis (45) is its best lead
    services.transitions_route(now=T0)

    item = QueueItem.objects.get()
    assert (item.lead, item.team) == (luis, team)
    note = Notification.objects.get()
    assert note.to == ["olga@leadflow.example"]
    assert note.subject == f"Account Acme, lead {luis}: {RoutingRule.objects.get().name}"
    assert "Its account Acme: score 85, account group Hot." in note.body
    assert "Call them today" in note.body
    event = GroupTransition.objects.get(kind="account", account_transition__to_group=hot)
    assert (event.lead, event.previous_total, event.total_score) == (luis, 75, 85)
    assert event.account_transition == AccountTransition.objects.get(to_group=hot)
    # The best lead's timeline tells of its account's move.
    page = admin_client.get(reverse("admin:scoring_lead_change", args=[luis.pk])).content.decode()
    assert "Acme: Engaged → Hot (score 75 → 85)" in page


@pytest.mark.django_db
def test_the_same_crossing_routes_once_however_often_it_is_processed(hot: AccountGroup) -> None:
    team = TeamFactory.create(assignment="queue")
    account_hot_rule(hot, team)
    account, ana, _ = acme()
    score(ana, 90)
    services.transitions_route(now=T0)
    services.transitions_route(now=T0)  # nothing left to process
    # The account refreshed and recomputed again: no new crossing.
    scoring.accounts_refresh_pending()
    scoring.accounts_rescore()
    # The event put back in the outbox (a retry after a crash) is acted on never again.
    event = GroupTransition.objects.get(kind="account", account_transition__to_group=hot)
    scoring.lead_events_processed(ids=[event.pk], at=None)
    services.transitions_route(now=T0)

    assert QueueItem.objects.count() == 1
    assert Notification.objects.count() == 1
    assert ActionRun.objects.count() == 2
    assert AccountTransition.objects.filter(account=account, to_group=hot).count() == 1


@pytest.mark.django_db
def test_hovering_at_the_hot_border_routes_once_and_leaving_fires_the_leave_trigger(hot: AccountGroup) -> None:
    team = TeamFactory.create(assignment="queue")
    account_hot_rule(hot, team)
    rule("account_leaves_group", {"kind": "add_tag", "tag": "cooled"}, account_group=hot)
    _, ana, _ = acme()
    score(ana, 85)
    for delta in (-10, 6, -5, 4):  # 75, 81, 76, 80: never below 70
        score(ana, delta)
    services.transitions_route(now=T0)
    assert QueueItem.objects.count() == 1
    assert "tags" not in Lead.objects.get(pk=ana.pk).attributes

    score(ana, -15)  # 65: leaves hot
    services.transitions_route(now=T0)
    assert Lead.objects.get(pk=ana.pk).attributes["tags"] == ["cooled"]
    assert QueueItem.objects.count() == 1


@pytest.mark.django_db
def test_an_account_without_an_owner_email_is_said_so_and_other_actions_still_run(hot: AccountGroup) -> None:
    team = TeamFactory.create(assignment="queue")
    account_hot_rule(hot, team)
    _, ana, _ = acme(owner_email="")
    score(ana, 85)
    services.transitions_route(now=T0)
    assert QueueItem.objects.get().lead == ana
    outcomes = set(ActionRun.objects.values_list("outcome", flat=True))
    assert "nobody to notify (no account owner email, no team)" in outcomes
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_an_account_trigger_needs_its_account_group(hot: AccountGroup) -> None:
    made = RoutingRule(key="k", name="Hot accounts", trigger="account_enters_group")
    with pytest.raises(ValidationError) as refused:
        made.clean()
    assert refused.value.message_dict == {"account_group": ["Choose the account group this trigger watches."]}


ROUTING_FILE = """
leadflow_model: 1
teams:
  - {key: enterprise, name: Enterprise, assignment: queue}
routing:
  - key: hot-accounts-to-sales
    name: Hot accounts to sales
    trigger: account_enters_group
    account_group: GROUP
    actions:
      - {kind: route_to_queue, team: enterprise}
      - {kind: notify}
"""


@pytest.mark.django_db
def test_account_triggers_round_trip_through_the_model_file(hot: AccountGroup) -> None:
    scoring.scoring_model_import(spec=model_file.load_text(ROUTING_FILE.replace("GROUP", "hot")))
    assert RoutingRule.objects.get().account_group == hot
    exported = model_file.dump_data(scoring.scoring_model_export())
    assert exported["routing"][0]["account_group"] == "hot"
    assert exported["account_groups"][1]["key"] == "hot"
    with pytest.raises(model_file.ModelFileError) as refused:
        scoring.scoring_model_import(spec=model_file.load_text(ROUTING_FILE.replace("GROUP", "warm")))
    assert refused.value.errors == ["routing[0].account_group: no account group with key 'warm' (known: engaged, hot)"]


@pytest.mark.django_db
def test_a_watched_account_group_is_not_deleted_by_a_model_file(hot: AccountGroup) -> None:
    account_hot_rule(hot, TeamFactory.create())
    with pytest.raises(model_file.ModelFileError) as refused:
        scoring.scoring_model_import(
            spec=model_file.load_text("leadflow_model: 1\naccount_groups:\n  - {key: engaged, name: E, min_score: 40}")
        )
    assert refused.value.errors == [
        "account_groups: hot not in the file, but routing rule 'Rule 0' uses it in account_group: "
        "keep the group or change that first"
    ]


@pytest.mark.django_db
def test_a_rule_naming_an_account_group_its_own_file_leaves_out_is_refused(hot: AccountGroup) -> None:
    # Even an inactive one: the group was still there while the rules were written.
    text = ROUTING_FILE.replace("GROUP", "hot").replace("    trigger:", "    active: false\n    trigger:")
    text += "account_groups:\n  - {key: engaged, name: E, min_score: 40}\n"
    with pytest.raises(model_file.ModelFileError) as refused:
        scoring.scoring_model_import(spec=model_file.load_text(text))
    assert refused.value.errors == ["routing[0].account_group: no account group with key 'hot' (known: engaged)"]
    assert set(AccountGroup.objects.values_list("key", flat=True)) == {"engaged", "hot"}


# --- PostgreSQL, Redis and real workers ------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_workers_routing_account_events_at_once_act_once(postgres: None, hot: AccountGroup) -> None:
    team = TeamFactory.create(assignment="queue")
    account_hot_rule(hot, team)
    owner = UserFactory.create(email="owner@leadflow.example")
    leads = []
    for n in range(12):
        account = Account.objects.create(name=f"Company {n}", domain=f"company{n}.example", owner=owner)
        leads.append(Lead.objects.create(email=f"a@company{n}.example", account=account))
    for lead in leads:
        adjust(lead, 90)
    scoring.accounts_refresh_pending()
    assert GroupTransition.objects.filter(kind="account").count() == 12 * 2  # into engaged, then hot

    at_once(*[lambda: services.transitions_route(batch_size=5, now=T0)] * 3)

    assert QueueItem.objects.count() == 12
    assert Notification.objects.count() == 12
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.services
def test_a_worker_scores_the_leads_and_routes_the_hot_account_once(celery_workers: Workers, hot: AccountGroup) -> None:
    team = TeamFactory.create(assignment="queue")
    account_hot_rule(hot, team)
    ScoringRuleFactory.create(key="demo", points=30, interaction_types=["webinar"])
    account, ana, luis = acme()
    celery_workers.start(2, concurrency=1)
    for n, lead in enumerate([ana, luis, luis]):  # ana 30, luis 60: 90, hot; luis is the best
        scoring.interaction_record(
            lead=lead, type="webinar", occurred_at=timezone.now(), idempotency_key=f"webinar-{n}"
        )
    for _ in range(3):
        interactions_score_pending_task.delay()

    wait_for(
        lambda: Account.objects.get(pk=account.pk).group_id == hot.pk,
        message=f"the account to become hot\n{celery_workers.logs()}",
    )
    for _ in range(3):
        transitions_route_task.delay()
    wait_for(
        lambda: (
            not GroupTransition.objects.filter(kind="account", processed_at__isnull=True).exists()
            and QueueItem.objects.exists()
        ),
        message=f"routing to act\n{celery_workers.logs()}",
    )
    assert list(QueueItem.objects.values_list("lead", flat=True)) == [luis.pk]
    assert Notification.objects.filter(to=["olga@leadflow.example"]).count() == 1
    assert Account.objects.get(pk=account.pk).total_score == 90
