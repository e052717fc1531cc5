"""What routing says it did (an action's outcome, a notification's or a webhook call's
error, an escalation's reason) is kept as a message id with its values beside the
English, so pages show it in their reader's language. Older rows keep only the English,
shown as stored: nothing is filled in."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('routing', '0020_outcome_holder'),
    ]

    operations = [
        migrations.AddField(
            model_name='actionrun',
            name='outcome_said',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="outcome's sentence"),
        ),
        migrations.AddField(
            model_name='notification',
            name='error_said',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="error's sentence"),
        ),
        migrations.AddField(
            model_name='outcome',
            name='reason_said',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="reason's sentence"),
        ),
        migrations.AddField(
            model_name='webhookattempt',
            name='error_said',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="error's sentence"),
        ),
    ]
