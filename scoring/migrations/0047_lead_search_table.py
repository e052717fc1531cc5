"""The lead search's trigrams move from the lead table to a table of their own
(PostgreSQL only; see scoring.lead_search).

The trigram index over five columns of scoring_lead (0023) took some fifty entries for
every new version of a lead's row, and a lead's row is written anew on every change of
its score: half the time of each score update went there. scoring_leadsearch holds
one row per lead (its searched fields in capitals, apart, and its external id),
written by triggers on scoring_lead only when a lead is created, when one of those
fields changes, and when leads are deleted or the table is emptied.

Made while workers and the API go on writing: the table and its triggers first, then
the leads there already copied (a row a trigger wrote meanwhile is newer and kept), its
indexes built CONCURRENTLY, and the old index dropped CONCURRENTLY last, so a search
always has one to read. Going back builds the old index again, CONCURRENTLY.
Not in the models' state: SQLite has neither trigram indexes nor these triggers.
"""

from django.db import migrations

OLD_INDEX = "lead_search_trgm_idx"
OLD_SEARCHED = ["email", "first_name", "last_name", "company", "city"]

# chr(1) between the fields (NULLs are left out): no search term holds it, so no term
# matches across two fields (as Django's search, one field at a time), and pg_trgm reads
# it as a break between words, as it does a space.
DOCUMENT = "upper(concat_ws(chr(1), {0}.email, {0}.first_name, {0}.last_name, {0}.company, {0}.city))"

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """
    CREATE TABLE IF NOT EXISTS scoring_leadsearch (
        lead_id bigint PRIMARY KEY,
        document text NOT NULL,
        external_id varchar(200)
    )
    """,
    f"""
    CREATE OR REPLACE FUNCTION scoring_leadsearch_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO scoring_leadsearch (lead_id, document, external_id)
        SELECT id, {DOCUMENT.format("created")}, external_id FROM created
        ON CONFLICT (lead_id) DO UPDATE SET document = EXCLUDED.document, external_id = EXCLUDED.external_id;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION scoring_leadsearch_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO scoring_leadsearch (lead_id, document, external_id)
        VALUES (NEW.id, {DOCUMENT.format("NEW")}, NEW.external_id)
        ON CONFLICT (lead_id) DO UPDATE SET document = EXCLUDED.document, external_id = EXCLUDED.external_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION scoring_leadsearch_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM scoring_leadsearch s USING deleted WHERE s.lead_id = deleted.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION scoring_leadsearch_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE scoring_leadsearch;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER IF EXISTS leadsearch_insert ON scoring_lead",
    """
    CREATE TRIGGER leadsearch_insert AFTER INSERT ON scoring_lead REFERENCING NEW TABLE AS created
    FOR EACH STATEMENT EXECUTE FUNCTION scoring_leadsearch_insert()
    """,
    # Only an UPDATE that names one of these columns, and only a row where one changed:
    # the workers' score updates name none of them.
    "DROP TRIGGER IF EXISTS leadsearch_update ON scoring_lead",
    """
    CREATE TRIGGER leadsearch_update AFTER UPDATE OF email, first_name, last_name, company, city, external_id
    ON scoring_lead FOR EACH ROW
    WHEN (OLD.email IS DISTINCT FROM NEW.email OR OLD.first_name IS DISTINCT FROM NEW.first_name
          OR OLD.last_name IS DISTINCT FROM NEW.last_name OR OLD.company IS DISTINCT FROM NEW.company
          OR OLD.city IS DISTINCT FROM NEW.city OR OLD.external_id IS DISTINCT FROM NEW.external_id)
    EXECUTE FUNCTION scoring_leadsearch_update()
    """,
    "DROP TRIGGER IF EXISTS leadsearch_delete ON scoring_lead",
    """
    CREATE TRIGGER leadsearch_delete AFTER DELETE ON scoring_lead REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION scoring_leadsearch_delete()
    """,
    "DROP TRIGGER IF EXISTS leadsearch_truncate ON scoring_lead",
    """
    CREATE TRIGGER leadsearch_truncate AFTER TRUNCATE ON scoring_lead
    FOR EACH STATEMENT EXECUTE FUNCTION scoring_leadsearch_truncate()
    """,
]

FILL = f"""
    INSERT INTO scoring_leadsearch (lead_id, document, external_id)
    SELECT id, {DOCUMENT.format("scoring_lead")}, external_id FROM scoring_lead
    ON CONFLICT (lead_id) DO NOTHING
"""

INDEXES = [
    ("leadsearch_document_idx", "USING gin (document gin_trgm_ops)"),
    ("leadsearch_external_id_idx", "(external_id) WHERE external_id IS NOT NULL"),
]


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in CREATE:
        schema_editor.execute(sql)
    schema_editor.execute(FILL)
    for name, definition in INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        schema_editor.execute(f'CREATE INDEX CONCURRENTLY "{name}" ON scoring_leadsearch {definition}')
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{OLD_INDEX}"')


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    expressions = ", ".join(f'UPPER("{column}"::text) gin_trgm_ops' for column in OLD_SEARCHED)
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{OLD_INDEX}"')
    schema_editor.execute(f'CREATE INDEX CONCURRENTLY "{OLD_INDEX}" ON "scoring_lead" USING gin ({expressions})')
    for trigger in ("insert", "update", "delete", "truncate"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS leadsearch_{trigger} ON scoring_lead")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS scoring_leadsearch_{trigger}()")
    schema_editor.execute("DROP TABLE IF EXISTS scoring_leadsearch")


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scoring", "0046_leadscore_fillfactor"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
