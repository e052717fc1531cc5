"""A retry's result is kept as a message id with its values beside the English, so the
admin shows it in its reader's language. Older rows keep only the English, shown as stored."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0056_help_texts_show_their_brackets'),
    ]

    operations = [
        migrations.AddField(
            model_name='setaside',
            name='retry_result_said',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="retry result's sentence"),
        ),
    ]
