"""Scorecard scores' pages keep 30% free on PostgreSQL (15% since migration 0041), so that
updating a score more often writes the new row beside the old one (a heap-only update:
the unique index on lead and scorecard is not written again). Every scoring batch
updates a row per lead and scorecard a few times over; with three scorecards, 30% took
5-8 us of the database's time per event off bench/ingest.py's 120-130 (15%). Pages
already written keep their room until rewritten."""

from django.db import migrations


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE scoring_leadscore SET (fillfactor = 70)")


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE scoring_leadscore SET (fillfactor = 85)")


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0045_leadscore_keys_unchecked"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
