"""Counting erased leads for the roll-ups (:class:`~reports.models.LeadErasures`): the
kept sums count each lead the nightly rebuild read, and a lead erased since would stay in
them with nothing to take it out by. Counting here rather than comparing the kept rows
with the leads on every request (a count of a million rows). A signal, so every way a lead
is deleted counts (the erasure service, the admin, a cascade) and scoring, which imports no
other app, need not know the reports exist."""

from __future__ import annotations

from typing import Any

from django.db.models import F

from reports.models import LeadErasures


def lead_deleted(sender: Any, **kwargs: Any) -> None:
    """In the deleting transaction: if it rolls back, so does the count."""
    if not LeadErasures.objects.update(count=F("count") + 1):
        LeadErasures.objects.create(count=1)
