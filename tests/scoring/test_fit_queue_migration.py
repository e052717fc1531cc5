"""Scoring's migration 0049: the leads flagged ``fit_pending`` become rows of the fit
queue (``scoring_pendingfit``), and going back flags the queued leads again."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from scoring.models import PendingFit
from tests.factories import LeadFactory

BEFORE = ("scoring", "0048_pattern_indexes_dropped")
AFTER = ("scoring", "0049_lead_fit_queue")


def flags() -> dict[int, bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, fit_pending FROM scoring_lead")
        return dict(cursor.fetchall())


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_flagged_leads_are_queued_and_going_back_flags_the_queued_ones(postgres: None) -> None:
    waiting, evaluated, queued_later = LeadFactory.create(), LeadFactory.create(), LeadFactory.create()
    try:
        MigrationExecutor(connection).migrate([BEFORE])
        with connection.cursor() as cursor:
            cursor.execute("UPDATE scoring_lead SET fit_pending = (id = %s)", [waiting.pk])
        assert flags() == {waiting.pk: True, evaluated.pk: False, queued_later.pk: False}

        MigrationExecutor(connection).migrate([AFTER])
        assert set(PendingFit.objects.values_list("lead_id", flat=True)) == {waiting.pk}

        PendingFit.objects.create(lead=queued_later)
        MigrationExecutor(connection).migrate([BEFORE])
        assert flags() == {waiting.pk: True, evaluated.pk: False, queued_later.pk: True}
        # The flag has a default in the database again: a lead written without it (by the
        # code of then, which wrote the columns of then; today's model has columns added since).
        then = MigrationExecutor(connection).loader.project_state([BEFORE]).apps.get_model("scoring", "Lead")
        columns = [
            f.column
            for f in then._meta.concrete_fields
            if f.column not in ("id", "fit_pending") and not getattr(f, "generated", False)
        ]
        named = ", ".join(map(connection.ops.quote_name, columns))
        picked = ", ".join("'new@example.com'" if c == "email" else connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            # The model's column names, quoted: nothing typed.
            insert = "INSERT INTO scoring_lead (" + named + ") SELECT " + picked + " FROM scoring_lead WHERE id = %s"  # noqa: S608
            cursor.execute(insert, [evaluated.pk])
        assert list(flags().values()).count(True) == 2
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
