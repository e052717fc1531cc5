"""Why an import refused its whole file is kept as a message id with its values beside the
English, so its page shows it in the reader's language. Older rows keep only the English,
shown as stored: nothing is filled in."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('intake', '0005_api_key_public'),
    ]

    operations = [
        migrations.AddField(
            model_name='leadimport',
            name='failure_said',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="failure's sentence"),
        ),
    ]
