"""Neither ledger is asked for its rows by interaction any more.

Erasing a lead deleted its interactions through Django's collector, which asked each
ledger for the rows naming them (their key was RESTRICT). The default ledger has no index
by interaction: that query read all of it, every partition, at every erasure. The
scorecards' ledger had one for that query alone, an entry paid by every row a scoring
batch or a decay writes there. The rows naming a lead's interactions are the lead's own,
which the erasure deletes with it; nothing else deletes interactions one by one (the
admin no longer offers it), and retention compacts the rows before it drops a month.

The keys become DO_NOTHING (no change in the database) and the scorecards' index goes.
Going back builds the index again.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0050_interaction_lead_unchecked"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="scorecardentry",
            name="sc_ledger_interaction_idx",
        ),
        migrations.AlterField(
            model_name="scorecardentry",
            name="interaction",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="scoring.interaction",
                verbose_name="interaction",
            ),
        ),
        migrations.AlterField(
            model_name="scoreentry",
            name="interaction",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="entries",
                to="scoring.interaction",
                verbose_name="interaction",
            ),
        ),
    ]
