"""A lead keeps what senders trusted to describe a company said of its own (industry,
company size, annual revenue, country), apart from its columns, which a key used in web
pages or a tracked form may have written: its account's empty fields take only these.
Nothing is known of the leads written before: no sender's trust can be read back from
their columns, so they start with none told."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0054_account_rule_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="company_told",
            field=models.JSONField(
                blank=True,
                default=dict,
                editable=False,
                help_text=(
                    "What the API, imports, the admin and server keys last said of the lead's industry, company size, "
                    "annual revenue and country: its account's empty fields take these."
                ),
                verbose_name="company as trusted senders told it",
            ),
        ),
    ]
