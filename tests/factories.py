from datetime import UTC, datetime

from factory.declarations import LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory
from factory.faker import Faker
from factory.helpers import post_generation

from scoring import event_types
from scoring.models import EventType, Interaction, Lead, PendingFit, RuleCondition, ScoreGroup, ScoringRule


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


def built_in_event_types() -> None:
    """The built-in types' rows, as the migration makes them (a transactional test's flush removes them)."""
    EventType.objects.bulk_create([EventType(key=key) for key in event_types.BUILT_IN], ignore_conflicts=True)
