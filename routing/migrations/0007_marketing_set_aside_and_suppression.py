"""Marketing may look at the rows batches set aside and retry them once the cause is
fixed ("Retry" needs change), and keeps the suppression list: adds an address, or
deletes an entry when the person asks to be mailed again (entries are never edited)."""

from django.db import migrations

from scoring import group_permissions

MARKETING = [
    ("scoring", "view_setaside"),
    ("scoring", "change_setaside"),
    ("scoring", "view_suppressedaddress"),
    ("scoring", "add_suppressedaddress"),
    ("scoring", "delete_suppressedaddress"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0006_webhook_secrets_encrypted"),
        ("scoring", "0014_set_aside"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [group_permissions.granting({"Marketing": MARKETING})]
