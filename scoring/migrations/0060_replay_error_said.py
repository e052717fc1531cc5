"""Why a replay failed is kept as a message id with its values beside the English, so its
page shows it in its reader's language. Older runs keep only the English, shown as stored."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0059_attribute_name_origin'),
    ]

    operations = [
        migrations.AddField(
            model_name='replayrun',
            name='error_said',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="error's sentence"),
        ),
    ]
