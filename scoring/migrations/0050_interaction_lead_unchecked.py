"""The interactions' foreign key to their lead, unchecked in the database.

PostgreSQL checked it with a query per interaction stored (``SELECT 1 FROM scoring_lead …
FOR KEY SHARE``), which cost as much as storing the row: 20,000 interactions, 0.10 s to
insert and 0.10 s more to check. What the check guarded (an interaction naming a lead
erased meanwhile) is now guarded by locks: the intake holds its leads' rows, in one
statement, until it commits (``scoring.services.leads_hold``), and erasure locks the
lead's row before it collects the rows it deletes.

Dropping the constraint is quick (no row is read). Going back adds it again, reading every
interaction to check it; it fails if one names a lead that is gone (none should: delete such
rows first).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0049_lead_fit_queue"),
    ]

    operations = [
        migrations.AlterField(
            model_name="interaction",
            name="lead",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="interactions",
                to="scoring.lead",
                verbose_name="lead",
            ),
        ),
    ]
