"""Notifications are sent in phases (claimed, sent, confirmed) with a lease, like nurture
deliveries: a status, when a sender took one and how often. Those sent before keep
their sent_at and become "sent". Marketing may resolve an "unknown" one once the mail
server's log says what became of it ("Send again", "Mark sent" need change)."""

from django.db import migrations, models

from scoring import group_permissions

MARKETING = [("routing", "change_notification")]


def _mark_sent(apps, schema_editor):  # type: ignore[no-untyped-def]
    notification = apps.get_model("routing", "Notification")
    notification.objects.filter(sent_at__isnull=False).update(status="sent")


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0008_marketing_model_name"),
        ("scoring", "0016_api_keys_and_forms_to_intake"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="notification",
            name="notification_unsent_idx",
        ),
        migrations.AddField(
            model_name="notification",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0, help_text="How many times a sender took it."),
        ),
        migrations.AddField(
            model_name="notification",
            name="claimed_at",
            field=models.DateTimeField(
                blank=True, help_text="When a sender last took it; its lease runs from then.", null=True
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Waiting to be sent"),
                    ("sending", "Being sent"),
                    ("sent", "Sent"),
                    ("unknown", "Unknown (the sender stopped mid-send): check the mail server's log"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.RunPython(_mark_sent, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("status", "pending")), fields=["id"], name="notification_pending_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("status", "sending")), fields=["claimed_at"], name="notification_sending_idx"
            ),
        ),
        group_permissions.granting({"Marketing": MARKETING}),
    ]
