"""Why a delivery failed or was not sent is kept as a message id with its values beside the
English, so pages show it in their reader's language. Older rows keep only the English,
shown as stored: nothing is filled in."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('nurture', '0005_field_names'),
    ]

    operations = [
        migrations.AddField(
            model_name='delivery',
            name='error_said',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="error's sentence"),
        ),
    ]
