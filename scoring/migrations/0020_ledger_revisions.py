"""The ledger may revise an award: a rule scores an interaction once (cause ``rule``),
and later rows of causes ``revised`` and ``rescore`` may be tied to the same
interaction and rule. The unique index narrows to the ``rule`` rows.

The ledger is the most written table, and a plain CREATE INDEX blocks every write to
it while it builds. On PostgreSQL the narrower index is built CONCURRENTLY under a
name of its own, the old one dropped CONCURRENTLY and the new one renamed, so awards
stay unique all along; that needs a migration outside a transaction. Elsewhere
(SQLite, a first run) it is a plain swap.
"""

from django.db import migrations, models

NAME = "ledger_one_award_per_interaction_rule"
# The new index while it builds. Left INVALID by an interrupted build, it is dropped and
# built again by the next run of this migration.
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


def _swap(apps, schema_editor, old, new):  # type: ignore[no-untyped-def]
    model = apps.get_model("scoring", "ScoreEntry")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_constraint(model, old)
        schema_editor.add_constraint(model, new)
        return
    quote = schema_editor.quote_name
    building = models.UniqueConstraint(fields=new.fields, condition=new.condition, name=BUILDING)
    create = str(building.create_sql(model, schema_editor))
    assert create.startswith("CREATE UNIQUE INDEX "), create
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(BUILDING)}")
    schema_editor.execute(create.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX CONCURRENTLY ", 1))
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(old.name)}")
    schema_editor.execute(f"ALTER INDEX {quote(BUILDING)} RENAME TO {quote(new.name)}")


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    _swap(apps, schema_editor, BEFORE, AWARDS_ONLY)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    _swap(apps, schema_editor, AWARDS_ONLY, BEFORE)


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
