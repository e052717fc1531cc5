"""A routing rule's conditions become rows (field, operator, value), edited in the admin
as scoring's conditions are, instead of a JSON list typed by hand. Existing lists become
rows in their order; undoing it writes the lists back. A rule with an entry that is no
condition (written by hand into the database: routing could not load it) is kept, its
readable conditions too, and deactivated, so it never runs with fewer conditions than
it had.

An action's settings its kind does not use (a tag on "enroll", a secret on a non-webhook
action) are emptied: nothing read them, and the action's check now refuses them.

Marketing edits the conditions as it edits the rules."""

from django.db import migrations, models
from django.db.models import deletion

from scoring import group_permissions

MARKETING = [("routing", f"{verb}_routingcondition") for verb in ("view", "add", "change", "delete")]
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
# As routing.models.KIND_SETTINGS says today.
ACTION_SETTINGS = ("sequence", "team", "user", "stage", "tag", "url", "secret", "message")
KIND_SETTINGS = {
    "enroll": ("sequence",),
    "exit_sequence": ("sequence",),
    "exit_all": (),
    "route_to_queue": ("team",),
    "assign_owner": ("team", "user"),
    "notify": ("team", "message"),
    "set_stage": ("stage",),
    "add_tag": ("tag",),
    "webhook": ("url", "secret"),
}
_FOREIGN_KEYS = {"sequence", "team", "user"}


def _to_rows(apps, schema_editor):  # type: ignore[no-untyped-def]
    rule_model = apps.get_model("routing", "RoutingRule")
    condition_model = apps.get_model("routing", "RoutingCondition")
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
    rule_model = apps.get_model("routing", "RoutingRule")
    condition_model = apps.get_model("routing", "RoutingCondition")
    lists: dict[int, list[dict[str, object]]] = {}
    for row in condition_model.objects.order_by("rule_id", "position", "id"):
        entry: dict[str, object] = {"field": row.field, "operator": row.operator}
        if row.value is not None:
            entry["value"] = row.value
        lists.setdefault(row.rule_id, []).append(entry)
    for rule_id, conditions in lists.items():
        rule_model.objects.filter(pk=rule_id).update(old_conditions=conditions)


def _unused_settings_emptied(apps, schema_editor):  # type: ignore[no-untyped-def]
    action_model = apps.get_model("routing", "RoutingAction")
    for kind, used in KIND_SETTINGS.items():
        empty = {
            (f"{name}_id" if name in _FOREIGN_KEYS else name): (None if name in _FOREIGN_KEYS else "")
            for name in ACTION_SETTINGS
            if name not in used
        }
        if empty:
            action_model.objects.filter(kind=kind).update(**empty)


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0010_outcomes_from_outside"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RenameField(model_name="routingrule", old_name="conditions", new_name="old_conditions"),
        migrations.CreateModel(
            name="RoutingCondition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("position", models.PositiveSmallIntegerField(default=0)),
                (
                    "field",
                    models.CharField(
                        help_text="A lead field (country, industry, company_size…) or attributes.<name>.",
                        max_length=120,
                    ),
                ),
                ("operator", models.CharField(choices=OPERATORS, max_length=20)),
                ("value", models.JSONField(blank=True, null=True)),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=deletion.CASCADE, related_name="conditions", to="routing.routingrule"
                    ),
                ),
            ],
            options={"ordering": ["position", "id"]},
        ),
        migrations.RunPython(_to_rows, _to_lists),
        migrations.RemoveField(model_name="routingrule", name="old_conditions"),
        migrations.RunPython(_unused_settings_emptied, migrations.RunPython.noop),
        group_permissions.granting({"Marketing": MARKETING}),
    ]
