"""Erasing a person's data on request (privacy): the lead, its interactions,
ledger and visitors, in one transaction."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from django.db import transaction

from scoring.models import GroupTransition, Interaction, Lead, ScoreEntry, Visitor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasureReport:
    lead: int
    interactions: int
    score_entries: int
    visitors: int
    group_transitions: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@transaction.atomic
def lead_erase(*, lead_id: int) -> ErasureReport:
    """Delete the lead and everything recorded about it; raise Lead.DoesNotExist if there is none."""
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    visitors = Visitor.objects.filter(lead=lead)
    # The ledger first: its rows protect interactions (on_delete RESTRICT).
    entries = ScoreEntry.objects.filter(lead=lead).delete()[0]
    interactions = Interaction.objects.filter(lead=lead).delete()[0]
    interactions += Interaction.objects.filter(visitor__in=visitors).delete()[0]
    transitions = GroupTransition.objects.filter(lead=lead).delete()[0]
    visitor_count = visitors.delete()[0]
    lead.delete()
    logger.info("erased lead %s on request", lead_id)  # no personal data in the log
    return ErasureReport(1, interactions, entries, visitor_count, transitions)
