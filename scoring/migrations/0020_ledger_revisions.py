"""The ledger may revise an award: a rule scores an interaction once (cause ``rule``),
and later rows of causes ``revised`` and ``rescore`` may be tied to the same
interaction and rule. The unique index narrows to the ``rule`` rows.

The ledger is the most written table: the index is swapped without blocking its
writes, and awards stay unique all along (scoring.index_swap).
"""

from django.db import migrations, models

from scoring.index_swap import swap

NAME = "ledger_one_award_per_interaction_rule"
BUILDING = "ledger_one_award_new"

AWARDS_ONLY = models.UniqueConstraint(
    condition=models.Q(("cause", "rule"), ("interaction__isnull", False)),
    fields=("interaction", "rule"),
    name=NAME,
)
BEFORE = models.UniqueConstraint(
    condition=models.Q(("interaction__isnull", False)),
    fields=("interaction", "rule"),
    name=NAME,
)

CAUSES = [
    ("rule", "Rule"),
    ("manual", "Manual adjustment"),
    ("rescore", "Rescore"),
    ("decay", "Decay"),
    ("revised", "Revised by a late interaction"),
]


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    swap(schema_editor, apps.get_model("scoring", "ScoreEntry"), BEFORE, AWARDS_ONLY, building=BUILDING)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    swap(schema_editor, apps.get_model("scoring", "ScoreEntry"), AWARDS_ONLY, BEFORE, building=BUILDING)


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scoring", "0019_rescore_job_kind"),
    ]

    operations = [
        migrations.AlterField(
            model_name="scoreentry",
            name="cause",
            field=models.CharField(choices=CAUSES, max_length=20),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.RemoveConstraint(model_name="scoreentry", name=NAME),
                migrations.AddConstraint(model_name="scoreentry", constraint=AWARDS_ONLY),
            ],
        ),
    ]
