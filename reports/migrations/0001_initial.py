from django.db import migrations, models

from scoring.group_permissions import granting

# Marketing reads the overview and the reports; so do sales managers (read-only: they
# design nothing and act on no lead from there). Reps have neither.
READERS = ["Marketing", "Sales managers"]
PERMISSION = [("reports", "view_reports")]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("routing", "0009_notification_sent_once"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.CreateModel(
            name="Report",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
            options={
                "managed": False,
                "default_permissions": (),
                "permissions": [("view_reports", "Can read the overview and the reports")],
            },
        ),
        granting(dict.fromkeys(READERS, PERMISSION)),
    ]
