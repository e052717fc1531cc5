"""The account ledger's and the stale-account queue's account keys without a constraint in
the database (see the models): a check per row for what their writers make sure of."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0043_ledger_keys_unchecked'),
    ]

    operations = [
        migrations.AlterField(
            model_name='accountentry',
            name='account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='entries', to='scoring.account', verbose_name='account'),
        ),
        migrations.AlterField(
            model_name='staleaccount',
            name='account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='scoring.account', verbose_name='account'),
        ),
    ]
