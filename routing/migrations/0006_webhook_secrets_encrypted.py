"""Webhook secrets encrypted at rest, and webhook URLs checked for where they point.

The column becomes text (a token is longer than the secret), the secrets in it
are encrypted, then the field reads and writes tokens. Backwards, the secrets
are decrypted again (with the SECRET_KEY they were encrypted with).
"""

import django.core.validators
from django.db import migrations, models

import routing.egress
import routing.encryption

HELP = "Webhook: the shared secret of the HMAC-SHA256 signature."


def encrypt_secrets(apps, schema_editor):
    RoutingAction = apps.get_model("routing", "RoutingAction")
    for pk, secret in RoutingAction.objects.exclude(secret="").values_list("pk", "secret"):
        try:
            routing.encryption.decrypt(secret)
            continue  # encrypted already (the migration ran, was undone only in part)
        except routing.encryption.SecretUnreadable:
            pass
        RoutingAction.objects.filter(pk=pk).update(secret=routing.encryption.encrypt(secret))


def decrypt_secrets(apps, schema_editor):
    RoutingAction = apps.get_model("routing", "RoutingAction")
    for pk, token in RoutingAction.objects.exclude(secret="").values_list("pk", "secret"):
        RoutingAction.objects.filter(pk=pk).update(secret=routing.encryption.decrypt(token))


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0005_lead_queue_team"),
    ]

    operations = [
        migrations.AlterField(
            model_name="routingaction",
            name="secret",
            field=models.TextField(blank=True, help_text=HELP),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        migrations.AlterField(
            model_name="routingaction",
            name="secret",
            field=routing.encryption.EncryptedTextField(
                blank=True, help_text=HELP, validators=[django.core.validators.MaxLengthValidator(200)]
            ),
        ),
        migrations.AlterField(
            model_name="routingaction",
            name="url",
            field=models.URLField(
                blank=True,
                help_text="Webhook: the URL that receives a signed JSON POST (a public address).",
                validators=[routing.egress.validate_webhook_url],
            ),
        ),
    ]
