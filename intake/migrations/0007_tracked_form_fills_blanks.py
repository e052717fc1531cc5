"""A tracked form's lead fields say that a post fills only what a lead has no value for yet
(the help text only: nothing in the database changes)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0006_said_sentences"),
    ]

    operations = [
        migrations.AlterField(
            model_name="trackedform",
            name="lead_fields",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Form fields copied to the lead (e.g. first_name, company, attributes.goal) where it has no value yet: anyone may post a form, so a post never changes a value the lead has. The others are kept on the interaction.",
                verbose_name="lead fields",
            ),
        ),
    ]
