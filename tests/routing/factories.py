"""Building blocks of routing tests: users, teams, reps, queue items and rules with their actions."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from factory.declarations import LazyFunction, PostGenerationMethodCall, Sequence, SubFactory
from factory.django import DjangoModelFactory

from routing import sales, services
from routing.models import QueueItem, Rep, RoutingAction, RoutingCondition, RoutingRule, Team
from scoring import services as scoring
from scoring.models import Lead
from scoring.rules import Dimension
from tests.factories import LeadFactory

PASSWORD = "queue-pass-1234"
# The groups as the migrations define them (a transactional test's flush removes its rows).
_groups = importlib.import_module("routing.migrations.0004_schedule_and_groups")
_marketing_more = importlib.import_module("routing.migrations.0007_marketing_set_aside_and_suppression")
_marketing_model_name = importlib.import_module("routing.migrations.0008_marketing_model_name")
_event_types = importlib.import_module("scoring.migrations.0018_event_types")
_reports = importlib.import_module("reports.migrations.0001_initial")
_conditions_as_rows = importlib.import_module("routing.migrations.0011_routing_conditions_as_rows")
_campaigns = importlib.import_module("scoring.migrations.0022_campaigns")
_mql_targets = importlib.import_module("reports.migrations.0003_mql_targets")
_model_drafts = importlib.import_module("scoring.migrations.0025_model_drafts")
_replay_runs = importlib.import_module("scoring.migrations.0026_replay_runs")
_lead_imports = importlib.import_module("intake.migrations.0002_lead_imports")
_accounts = importlib.import_module("scoring.migrations.0036_account_names_and_permissions")
_attribute_names = importlib.import_module("scoring.migrations.0059_attribute_name_origin")
# Models that moved to intake since, their permissions with them.
_to_intake = importlib.import_module("intake.migrations.0001_initial").MOVED


def group(name: str) -> Group:
    """The "Sales" or "Marketing" group with the migration's permissions, made again if flushed."""
    found, _ = Group.objects.get_or_create(name=name)
    if name == "Sales":
        wanted = list(_groups.SALES)
    else:
        wanted = [
            (app, f"{verb}_{model}")
            for app, models in _groups.MARKETING.items()
            for model in models
            for verb in ("view", "add", "change", "delete")
        ]
        wanted += [(app, f"view_{model}") for app, models in _groups.MARKETING_VIEW_ONLY.items() for model in models]
        wanted += _marketing_more.MARKETING + _marketing_model_name.MARKETING + _event_types.MARKETING
        wanted += _reports.PERMISSION
        wanted += _conditions_as_rows.MARKETING
        wanted += _campaigns.MARKETING
        wanted += _mql_targets.MARKETING
        wanted += _model_drafts.MARKETING
        wanted += _replay_runs.MARKETING
        wanted += _lead_imports.MARKETING
        wanted += _accounts.MARKETING
        wanted += _attribute_names.MARKETING
        wanted = [
            ("intake" if app == "scoring" and codename.split("_", 1)[1] in _to_intake else app, codename)
            for app, codename in wanted
        ]
    found.permissions.add(
        *(Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in wanted)
    )
    return found


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = Sequence(lambda n: f"user{n}")
    email = Sequence(lambda n: f"user{n}@leadflow.example")
    password = PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance: User, create: bool, results: object = None) -> None:
        if create:
            instance.save(update_fields=["password"])


class TeamFactory(DjangoModelFactory[Team]):
    class Meta:
        model = Team

    key = Sequence(lambda n: f"team-{n}")
    name = Sequence(lambda n: f"Team {n}")
    assignment = Team.Assignment.QUEUE
    sla_hours = 4


class RepFactory(DjangoModelFactory[Rep]):
    class Meta:
        model = Rep

    user = SubFactory(UserFactory)
    team = SubFactory(TeamFactory)

    @classmethod
    def _create(cls, model_class: type[Rep], *args: object, **kwargs: object) -> Rep:
        rep: Rep = super()._create(model_class, *args, **kwargs)
        rep.user.groups.add(group("Sales"))
        return rep


def marketer(**kwargs: object) -> User:
    """A staff user in the Marketing group (what marketers are)."""
    user = UserFactory.create(is_staff=True, **kwargs)
    user.groups.add(group("Marketing"))
    return user


class QueueItemFactory(DjangoModelFactory[QueueItem]):
    """An item as routing would leave it, the lead's queue_team_id included."""

    class Meta:
        model = QueueItem

    lead = SubFactory(LeadFactory)
    team = SubFactory(TeamFactory)
    entered_at = LazyFunction(lambda: datetime(2026, 11, 2, 9, tzinfo=UTC))

    @classmethod
    def _create(cls, model_class: type[QueueItem], *args: object, **kwargs: object) -> QueueItem:
        item: QueueItem = super()._create(model_class, *args, **kwargs)
        sales.leads_queue_team_sync(lead_ids=[item.lead_id])
        return item


def rule(
    trigger: str,
    *actions: dict[str, Any],
    sync: bool = True,
    conditions: Iterable[Mapping[str, Any]] = (),
    **fields: Any,
) -> RoutingRule:
    """An active routing rule with ``actions`` (each a dict of RoutingAction fields), in order,
    and ``conditions`` (each {field, operator, value}).

    Syncs the watched scores, as the admin does when a rule is saved."""
    count = RoutingRule.objects.count()
    fields.setdefault("key", f"rule-{count}")
    fields.setdefault("name", f"Rule {count}")
    fields.setdefault("position", count)
    made = RoutingRule.objects.create(trigger=trigger, **fields)
    for position, condition in enumerate(conditions):
        RoutingCondition.objects.create(rule=made, position=position, **condition)
    for position, action in enumerate(actions):
        RoutingAction.objects.create(rule=made, position=position, **action)
    if sync:
        services.score_watches_sync()
    return made


def adjust(lead: Lead, delta: int) -> None:
    """Move the lead's engagement score by hand (a ledger row, and its outbox row if it crosses)."""
    scoring.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=delta, note="test")
