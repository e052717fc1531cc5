"""API keys and tracked forms are intake's now (intake 0001 took their tables and rows):
scoring forgets them without touching the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0015_interaction_unscored_concurrently"),
        ("intake", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ApiKey"),
                migrations.DeleteModel(name="TrackedForm"),
            ],
        ),
    ]
