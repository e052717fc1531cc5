from django.contrib.auth.management import create_permissions
from django.db import migrations

from scoring import schedule

TASKS = {
    "Send routing notifications": ("routing.send_notifications", 60, 55),
    "Deliver webhooks (retries)": ("routing.deliver_webhooks", 60, 55),
    "Escalate leads past their SLA": ("routing.escalate_sla", 300, 280),
}

# Django groups and what they may do. Marketing designs the model (rules,
# groups, sequences, routing, teams) and reads the history; it has no sales
# actions. Sales works the queue page only (no admin: reps are not staff).
MARKETING = {
    "scoring": ["scoringrule", "rulecondition", "scoregroup", "decaypolicy", "rescorejob", "trackedform", "lead", "account"],
    "nurture": ["sequence", "step", "enrollment"],
    "routing": ["routingrule", "routingaction", "team", "rep", "territoryrule"],
}
MARKETING_VIEW_ONLY = {
    "scoring": ["scoreentry", "interaction", "grouptransition"],
    "routing": ["queueitem", "outcome", "actionrun", "webhookdelivery", "notification"],
}
SALES = [("routing", "work_queue")]


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.install(apps, TASKS)
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    marketing, _ = group_model.objects.get_or_create(name="Marketing")
    wanted = []
    for app, models in MARKETING.items():
        for model in models:
            wanted += [(app, f"{verb}_{model}") for verb in ("view", "add", "change", "delete")]
    for app, models in MARKETING_VIEW_ONLY.items():
        wanted += [(app, f"view_{model}") for model in models]
    marketing.permissions.add(*_permissions(permission_model, wanted))
    sales, _ = group_model.objects.get_or_create(name="Sales")
    sales.permissions.add(*_permissions(permission_model, SALES))


def _permissions(permission_model, wanted):  # type: ignore[no-untyped-def]
    found = []
    for app, codename in wanted:
        permission = permission_model.objects.filter(content_type__app_label=app, codename=codename).first()
        if permission is None:
            raise RuntimeError(f"permission {app}.{codename} is missing")
        found.append(permission)
    return found


def uninstall(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.uninstall(apps, TASKS)
    apps.get_model("auth", "Group").objects.filter(name__in=["Marketing", "Sales"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0003_sales_queue"),
        ("nurture", "0002_periodic_tasks"),
        ("scoring", "0009_lead_events"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
