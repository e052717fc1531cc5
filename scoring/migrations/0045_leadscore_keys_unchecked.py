"""The scorecard scores' lead, scorecard and group keys without a constraint in the database
(see the model): a check per row of every scoring batch for what their writer makes sure of."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0044_account_keys_unchecked'),
    ]

    operations = [
        migrations.AlterField(
            model_name='leadscore',
            name='lead',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='scorecard_scores', to='scoring.lead', verbose_name='lead'),
        ),
        migrations.AlterField(
            model_name='leadscore',
            name='score_group',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scoring.scoregroup', verbose_name='score group'),
        ),
        migrations.AlterField(
            model_name='leadscore',
            name='scorecard',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='scoring.scorecard', verbose_name='scorecard'),
        ),
    ]
