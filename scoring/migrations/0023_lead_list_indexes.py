"""The admin's lead list at a million leads: its sorts, filters and search read indexes.

- By total score (the list's order): (-total_score, id), so the tie-break on id is read
  from the index too; in a score group and in a lifecycle stage the same, behind the
  group or stage, which also count a filtered list from the index alone.
- Search (PostgreSQL only): one trigram GIN index over UPPER() of email, first name, last
  name, company and city, the expressions Django's ``icontains`` compares, so a search
  for part of any of them is a bitmap index scan, not a read of the whole table. It is
  not in the model's state: SQLite has no GIN, and a table SQLite rebuilds would try to
  build it there.

The lead table is written on every score change: each index is built CONCURRENTLY
(scoring.index_swap), so workers and the API go on writing while it builds.
"""

from django.db import migrations, models

from scoring.index_swap import add, drop, swap

TOTAL_BEFORE = models.Index(fields=["-total_score"], name="lead_total_score_idx")
TOTAL = models.Index(fields=["-total_score", "id"], name="lead_total_score_idx")
GROUP_BEFORE = models.Index(fields=["score_group", "-total_score"], name="lead_group_score_idx")
GROUP = models.Index(fields=["score_group", "-total_score", "id"], name="lead_group_score_idx")
STAGE = models.Index(fields=["lifecycle_stage", "-total_score", "id"], name="lead_stage_score_idx")

SEARCH_INDEX = "lead_search_trgm_idx"
SEARCHED = ["email", "first_name", "last_name", "company", "city"]


def search_index_create(schema_editor) -> None:  # type: ignore[no-untyped-def]
    """Django's icontains on PostgreSQL compares UPPER(column::text) LIKE UPPER(pattern): the
    index holds the trigrams of those very expressions."""
    # pg_trgm is a trusted extension: the database's owner may create it. It is left in
    # place going back: another index or query may use it by then.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    expressions = ", ".join(f'UPPER("{column}"::text) gin_trgm_ops' for column in SEARCHED)
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{SEARCH_INDEX}"')
    schema_editor.execute(f'CREATE INDEX CONCURRENTLY "{SEARCH_INDEX}" ON "scoring_lead" USING gin ({expressions})')


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    lead = apps.get_model("scoring", "Lead")
    swap(schema_editor, lead, TOTAL_BEFORE, TOTAL, building="lead_total_score_new")
    swap(schema_editor, lead, GROUP_BEFORE, GROUP, building="lead_group_score_new")
    add(schema_editor, lead, STAGE)
    if schema_editor.connection.vendor == "postgresql":
        search_index_create(schema_editor)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    lead = apps.get_model("scoring", "Lead")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{SEARCH_INDEX}"')
    drop(schema_editor, lead, STAGE)
    swap(schema_editor, lead, GROUP, GROUP_BEFORE, building="lead_group_score_new")
    swap(schema_editor, lead, TOTAL, TOTAL_BEFORE, building="lead_total_score_new")


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scoring", "0022_campaigns"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.RemoveIndex(model_name="lead", name="lead_total_score_idx"),
                migrations.AddIndex(model_name="lead", index=TOTAL),
                migrations.RemoveIndex(model_name="lead", name="lead_group_score_idx"),
                migrations.AddIndex(model_name="lead", index=GROUP),
                migrations.AddIndex(model_name="lead", index=STAGE),
            ],
        ),
    ]
