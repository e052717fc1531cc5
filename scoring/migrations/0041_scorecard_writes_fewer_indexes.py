"""Writing scores on several scorecards costs less: the scorecard ledger loses its indexes
by rule and by scorecard alone (no reader but the RESTRICT check of deleting a rule or a
scorecard), and the leads' scorecard scores lose their index by score, so that changing a
score (every scoring batch and decay run) is a HOT update, given room in the page."""

from django.db import migrations


def leadscore_fillfactor(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Leave room in each page of scorecard scores (PostgreSQL only; new pages, and old ones
    once rewritten), as on the leads: the new version of a changed score fits on its page."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE scoring_leadscore SET (fillfactor = 85)")


def leadscore_fillfactor_reset(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE scoring_leadscore RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0040_account_rule_conditions"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="leadscore",
            name="leadscore_scorecard_total_idx",
        ),
        migrations.RemoveIndex(
            model_name="scorecardentry",
            name="sc_ledger_rule_idx",
        ),
        migrations.RemoveIndex(
            model_name="scorecardentry",
            name="sc_ledger_scorecard_idx",
        ),
        migrations.RunPython(leadscore_fillfactor, leadscore_fillfactor_reset),
    ]
