import hashlib

from django.db import migrations, models


def unsubscribed_leads_are_suppressed(apps, schema_editor):
    # Leads that unsubscribed before the list existed: their addresses go on it now,
    # so the promise holds for them too if they are erased later. The hash is
    # scoring.suppression.address_hash, copied so this migration never changes.
    Lead = apps.get_model("scoring", "Lead")
    SuppressedAddress = apps.get_model("scoring", "SuppressedAddress")
    leads = Lead.objects.filter(unsubscribed_at__isnull=False, email__isnull=False).values_list(
        "email", "unsubscribed_at"
    )
    batch = []
    for email, at in leads.iterator(chunk_size=2000):
        digest = hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
        batch.append(SuppressedAddress(address_hash=digest, reason="unsubscribed", suppressed_at=at))
        if len(batch) >= 2000:
            SuppressedAddress.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    SuppressedAddress.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0012_api_key_scopes"),
    ]

    operations = [
        migrations.CreateModel(
            name="SuppressedAddress",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "address_hash",
                    models.CharField(
                        editable=False,
                        help_text="SHA-256 (hex) of the lower-cased, trimmed address.",
                        max_length=64,
                        unique=True,
                    ),
                ),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("unsubscribed", "Unsubscribed"),
                            ("bounced", "Bounced"),
                            ("complained", "Complained (marked as spam)"),
                            ("manual", "Added by hand"),
                        ],
                        max_length=20,
                    ),
                ),
                ("suppressed_at", models.DateTimeField()),
                (
                    "erased_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the lead with this address was erased: only the hash remains.",
                        null=True,
                    ),
                ),
            ],
            options={
                "verbose_name": "suppressed address",
                "verbose_name_plural": "suppression list",
                "ordering": ["-suppressed_at", "-id"],
            },
        ),
        migrations.RunPython(unsubscribed_leads_are_suppressed, migrations.RunPython.noop),
    ]
