"""The index the scoring workers claim from leaves set-aside interactions out.

Interactions is the biggest table: the index is swapped without blocking its writes
(intake, tracking, scoring), and the workers' claim has an index to read all along
(scoring.index_swap).
"""

from django.db import migrations, models

from scoring.index_swap import swap

NAME = "interaction_unscored_idx"
BUILDING = "interaction_unscored_new"

WITH_SET_ASIDE = models.Index(
    condition=models.Q(("lead__isnull", False), ("scored_at__isnull", True), ("set_aside", False)),
    fields=["id"],
    name=NAME,
)
BEFORE = models.Index(
    condition=models.Q(("lead__isnull", False), ("scored_at__isnull", True)),
    fields=["id"],
    name=NAME,
)


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    swap(schema_editor, apps.get_model("scoring", "Interaction"), BEFORE, WITH_SET_ASIDE, building=BUILDING)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    swap(schema_editor, apps.get_model("scoring", "Interaction"), WITH_SET_ASIDE, BEFORE, building=BUILDING)


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scoring", "0014_set_aside"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.RemoveIndex(model_name="interaction", name=NAME),
                migrations.AddIndex(model_name="interaction", index=WITH_SET_ASIDE),
            ],
        ),
    ]
