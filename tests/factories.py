from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from factory.declarations import LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory
from factory.faker import Faker
from factory.helpers import post_generation

from scoring import event_types, selectors, services
from scoring.models import (
    EventType,
    Interaction,
    Lead,
    PendingFit,
    RuleCondition,
    ScoreGroup,
    ScoringRule,
)


class LeadFactory(DjangoModelFactory[Lead]):
    class Meta:
        model = Lead
        skip_postgeneration_save = True  # the hook below writes a row of its own, not the lead

    email = Sequence(lambda n: f"lead{n}@example.com")
    first_name = Faker("first_name")
    last_name = Faker("last_name")

    @post_generation
    def fit_pending(lead: Lead, create: bool, extracted: bool | None, **kwargs: object) -> None:
        """``fit_pending=True``: the lead waits for a scoring batch to evaluate its fit, as
        one created or changed in bulk does."""
        if create and extracted:
            PendingFit.objects.create(lead=lead)


class ScoreGroupFactory(DjangoModelFactory[ScoreGroup]):
    class Meta:
        model = ScoreGroup

    key = Sequence(lambda n: f"group-{n}")
    name = Sequence(lambda n: f"Group {n}")
    min_score = Sequence(lambda n: 40 + 20 * n)


class ScoringRuleFactory(DjangoModelFactory[ScoringRule]):
    class Meta:
        model = ScoringRule

    key = Sequence(lambda n: f"rule-{n}")
    name = Sequence(lambda n: f"Rule {n}")
    dimension = "engagement"
    points = 2
    interaction_types = LazyFunction(lambda: ["email_open"])


def fit_rule(points: int, field: str, operator: str, value: object = None, **kwargs: object) -> ScoringRule:
    rule = ScoringRuleFactory.create(dimension="fit", points=points, interaction_types=[], **kwargs)
    RuleCondition.objects.create(rule=rule, field=field, operator=operator, value=value)
    return rule


class InteractionFactory(DjangoModelFactory[Interaction]):
    class Meta:
        model = Interaction

    lead = SubFactory(LeadFactory)
    type = "email_open"
    occurred_at = LazyFunction(lambda: datetime(2026, 11, 1, 12, tzinfo=UTC))
    idempotency_key = Sequence(lambda n: f"evt-{n}")
    properties = LazyFunction(dict)

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Interaction:
        """Stored as the intake does: one of a known lead waits for a worker."""
        interaction: Interaction = model_class.objects.create(*args, **kwargs)
        services.interactions_wait([interaction])
        return interaction


def built_in_event_types() -> None:
    """The built-in types' rows, as the migration makes them (a transactional test's flush removes them)."""
    EventType.objects.bulk_create([EventType(key=key) for key in event_types.BUILT_IN], ignore_conflicts=True)


def interactions_create(interactions: Iterable[Interaction], *, batch_size: int | None = None) -> list[Interaction]:
    """Store interactions as the intake does: those of known leads wait for a worker."""
    rows = Interaction.objects.bulk_create(interactions, batch_size=batch_size)
    services.interactions_wait(rows)
    return rows


def interaction_create(**fields: Any) -> Interaction:
    """One interaction stored as the intake does (:func:`interactions_create`)."""
    return interactions_create([Interaction(**fields)])[0]


def interactions_scored(**filters: Any) -> QuerySet[Interaction]:
    """The interactions (of ``filters``) a worker has scored: a lead's, not set aside, no longer waiting."""
    return selectors.interactions_scored().filter(**filters)
