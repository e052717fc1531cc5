from django.db import migrations

from scoring import schedule
from scoring.group_permissions import grant

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
    marketing = []
    for app, models in MARKETING.items():
        for model in models:
            marketing += [(app, f"{verb}_{model}") for verb in ("view", "add", "change", "delete")]
    for app, models in MARKETING_VIEW_ONLY.items():
        marketing += [(app, f"view_{model}") for model in models]
    grant(apps, "Marketing", marketing)
    grant(apps, "Sales", SALES)


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
