"""Account fit rules get a key, as lead rules have, so a model file names them and a
re-import updates a rule rather than adding it again. Existing rules take a slug of
their name, made unique with -2, -3… in id order."""

from typing import Any

from django.db import migrations, models
from django.utils.text import slugify

KEY_MAX_LENGTH = 80


def unique_key(name: str, taken: set[str]) -> str:
    # Frozen here: the service's own may change after this migration has run.
    base = slugify(name)[:KEY_MAX_LENGTH].strip("-_") or "account-rule"
    key, n = base, 1
    while key in taken:
        n += 1
        suffix = f"-{n}"
        key = base[: KEY_MAX_LENGTH - len(suffix)].rstrip("-_") + suffix
    taken.add(key)
    return key


def keys_fill(apps: Any, schema_editor: Any) -> None:
    rule_model = apps.get_model("scoring", "AccountRule")
    taken: set[str] = set()
    rules = list(rule_model.objects.order_by("pk"))
    for rule in rules:
        rule.key = unique_key(rule.name, taken)
    rule_model.objects.bulk_update(rules, ["key"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0053_ledger_created_at_given"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountrule",
            name="key",
            field=models.SlugField(default="", max_length=KEY_MAX_LENGTH, db_index=False, verbose_name="key"),
            preserve_default=False,
        ),
        migrations.RunPython(keys_fill, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="accountrule",
            name="key",
            field=models.SlugField(
                help_text="Stable name used in model files.", max_length=KEY_MAX_LENGTH, unique=True, verbose_name="key"
            ),
        ),
    ]
