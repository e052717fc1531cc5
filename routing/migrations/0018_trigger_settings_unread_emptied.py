"""A routing rule keeps no setting its trigger does not read: such a setting did nothing,
but was exported (a file the import now refuses) and held its group in use, and the
rule's check now refuses it, so one such rule made the rules' list fail to save."""

from django.db import migrations

# The settings each trigger reads, as routing.models.TRIGGER_SETTINGS said when this was written.
READS = {
    "enters_group": {"group"},
    "leaves_group": {"group"},
    "score_rises_to": {"threshold"},
    "score_falls_below": {"threshold"},
    "stage_changes": {"stage"},
    "qualified": set(),
    "disqualified": set(),
    "probability_rises": {"probability"},
    "probability_falls": {"probability"},
    "account_enters_group": {"account_group"},
    "account_leaves_group": {"account_group"},
}
EMPTY = {"group": None, "account_group": None, "threshold": None, "probability": None, "stage": ""}


def unread_settings_empty(apps, schema_editor):
    rule = apps.get_model("routing", "RoutingRule")
    for trigger, reads in READS.items():
        unread = {name: empty for name, empty in EMPTY.items() if name not in reads}
        rule.objects.filter(trigger=trigger).update(**unread)


class Migration(migrations.Migration):
    dependencies = [("routing", "0017_team_scorecard")]

    operations = [migrations.RunPython(unread_settings_empty, migrations.RunPython.noop, elidable=True)]
