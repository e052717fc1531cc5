"""An account fit rule's conditions become rows (field, operator, value), edited in the
admin as a lead rule's conditions are, instead of a JSON list typed by hand. Existing
lists become rows in their order; undoing it writes the lists back. A rule with an entry
that is no condition (written by hand into the database: the rule could not be scored)
keeps its readable conditions and is deactivated, so it never scores with fewer
conditions than it had.

Marketing edits the conditions as it edits the rules; sales managers read them."""

from django.db import migrations, models
from django.db.models import deletion

from scoring import group_permissions

MARKETING = [("scoring", f"{verb}_accountrulecondition") for verb in ("view", "add", "change", "delete")]
SALES_MANAGERS = [("scoring", "view_accountrulecondition")]
OPERATORS = [
    ("equals", "is"),
    ("not_equals", "is not"),
    ("one_of", "is one of"),
    ("not_one_of", "is none of"),
    ("contains", "contains"),
    ("gt", "is more than"),
    ("gte", "is at least"),
    ("lt", "is less than"),
    ("lte", "is at most"),
    ("between", "is between"),
    ("is_set", "is set"),
    ("is_empty", "is empty"),
    ("matches", "matches"),
]


def _to_rows(apps, schema_editor):  # type: ignore[no-untyped-def]
    rule_model = apps.get_model("scoring", "AccountRule")
    condition_model = apps.get_model("scoring", "AccountRuleCondition")
    operators = {value for value, _ in OPERATORS}
    rows, broken = [], []
    for rule_id, conditions in rule_model.objects.values_list("pk", "old_conditions"):
        entries = conditions if isinstance(conditions, list) else [conditions]
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or entry.get("operator") not in operators:
                broken.append(rule_id)
                continue
            field = entry.get("field")
            rows.append(
                condition_model(
                    rule_id=rule_id,
                    position=position,
                    field=str(field if field is not None else "")[:120],
                    operator=entry["operator"],
                    value=entry.get("value"),
                )
            )
    condition_model.objects.bulk_create(rows)
    rule_model.objects.filter(pk__in=broken).update(active=False)


def _to_lists(apps, schema_editor):  # type: ignore[no-untyped-def]
    rule_model = apps.get_model("scoring", "AccountRule")
    condition_model = apps.get_model("scoring", "AccountRuleCondition")
    lists: dict[int, list[dict[str, object]]] = {}
    for row in condition_model.objects.order_by("rule_id", "position", "id"):
        lists.setdefault(row.rule_id, []).append({"field": row.field, "operator": row.operator, "value": row.value})
    for rule_id, conditions in lists.items():
        rule_model.objects.filter(pk=rule_id).update(old_conditions=conditions)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0039_history_schedule"),
    ]

    operations = [
        migrations.RenameField(model_name="accountrule", old_name="conditions", new_name="old_conditions"),
        migrations.CreateModel(
            name="AccountRuleCondition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="position")),
                (
                    "field",
                    models.CharField(
                        help_text=(
                            "An account field (name, domain, industry, company_size, annual_revenue, country)"
                            " or attributes.<name>."
                        ),
                        max_length=120,
                        verbose_name="field",
                    ),
                ),
                ("operator", models.CharField(choices=OPERATORS, max_length=20, verbose_name="operator")),
                ("value", models.JSONField(blank=True, null=True, verbose_name="value")),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=deletion.CASCADE,
                        related_name="conditions",
                        to="scoring.accountrule",
                        verbose_name="account rule",
                    ),
                ),
            ],
            options={
                "verbose_name": "account rule condition",
                "verbose_name_plural": "account rule conditions",
                "ordering": ["position", "id"],
            },
        ),
        migrations.RunPython(_to_rows, _to_lists),
        migrations.RemoveField(model_name="accountrule", name="old_conditions"),
        group_permissions.granting({"Marketing": MARKETING, "Sales managers": SALES_MANAGERS}),
    ]
