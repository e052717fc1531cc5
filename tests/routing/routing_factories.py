"""Building blocks of routing tests: users, teams, reps and rules with their actions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from factory.declarations import LazyAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory

from routing import services
from routing.models import Rep, RoutingAction, RoutingRule, Team
from scoring import services as scoring
from scoring.models import Lead
from scoring.rules import Dimension


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    username = Sequence(lambda n: f"user{n}")
    email = LazyAttribute(lambda u: f"{u.username}@sales.example")


class TeamFactory(DjangoModelFactory[Team]):
    class Meta:
        model = Team

    key = Sequence(lambda n: f"team-{n}")
    name = Sequence(lambda n: f"Team {n}")


class RepFactory(DjangoModelFactory[Rep]):
    class Meta:
        model = Rep

    user = SubFactory(UserFactory)
    team = SubFactory(TeamFactory)


def rule(trigger: str, *actions: dict[str, Any], sync: bool = True, **fields: Any) -> RoutingRule:
    """An active routing rule with ``actions`` (each a dict of RoutingAction fields), in order.

    Syncs the watched scores, as the admin does when a rule is saved."""
    count = RoutingRule.objects.count()
    fields.setdefault("key", f"rule-{count}")
    fields.setdefault("name", f"Rule {count}")
    fields.setdefault("position", count)
    made = RoutingRule.objects.create(trigger=trigger, **fields)
    for position, action in enumerate(actions):
        RoutingAction.objects.create(rule=made, position=position, **action)
    if sync:
        services.score_watches_sync()
    return made


def adjust(lead: Lead, delta: int) -> None:
    """Move the lead's engagement score by hand (a ledger row, and its outbox row if it crosses)."""
    scoring.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=delta, note="test")
