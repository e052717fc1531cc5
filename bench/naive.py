"""The naive baseline of bench/ingest.py: one Celery task per event, through
the ORM, row by row. Loaded only by the benchmark's worker (celery -I bench.naive)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import F

from intake.events import timestamp_parse
from scoring import rules as pure
from scoring.models import Interaction, Lead, ScoreEntry, ScoringRule


@shared_task(name="bench.naive_event")
def naive_event(event: dict[str, Any]) -> None:
    with transaction.atomic():
        lead, _ = Lead.objects.get_or_create(email=event["lead"]["email"])
        interaction, created = Interaction.objects.get_or_create(
            idempotency_key=event["id"],
            defaults={
                "lead": lead,
                "type": event["type"],
                "occurred_at": timestamp_parse(event["occurred_at"]),
                "properties": event.get("properties", {}),
                "source": "bench-naive",
            },
        )
        if not created:
            return
        facts = pure.InteractionFacts(
            interaction.pk, lead.pk, interaction.type, interaction.occurred_at, interaction.properties
        )
        for rule in ScoringRule.objects.filter(dimension="engagement", active=True).prefetch_related("conditions"):
            rule_pure = rule.as_pure(list(rule.conditions.all()))
            if not pure.rule_matches_interaction(rule_pure, facts):
                continue
            ScoreEntry.objects.create(
                lead=lead,
                dimension="engagement",
                delta=rule.points,
                cause=ScoreEntry.Cause.RULE,
                rule=rule,
                interaction=interaction,
                occurred_at=interaction.occurred_at,
            )
            Lead.objects.filter(pk=lead.pk).update(engagement_score=F("engagement_score") + rule.points)
