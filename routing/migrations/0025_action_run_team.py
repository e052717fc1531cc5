"""An action run keeps the team it ran for, whose team lead reads it in the admin and the
lead's timeline, where the run's action's team was read and so changed with the action.
Runs recorded before take their action's team of now where the kind acts for a team (its
queue, its assignment, its address): the best known, since the action may have named
another team then, and a notify may have told the lead's owner for want of the team's
address. An assign_owner naming a user (who wins over the team) and the other kinds are
no team's."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def teams_from_actions(apps, schema_editor):  # type: ignore[no-untyped-def]
    action = apps.get_model("routing", "RoutingAction")
    run = apps.get_model("routing", "ActionRun")
    team_bound = action.objects.filter(team__isnull=False, kind__in=["route_to_queue", "assign_owner", "notify"])
    team_bound = team_bound.exclude(kind="assign_owner", user__isnull=False)
    run.objects.filter(team__isnull=True, action__in=team_bound).update(
        team=Subquery(action.objects.filter(pk=OuterRef("action_id")).values("team_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0024_durations_at_most_ten_years"),
    ]

    operations = [
        migrations.AddField(
            model_name="actionrun",
            name="team",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="routing.team",
                verbose_name="team",
            ),
        ),
        migrations.RunPython(teams_from_actions, migrations.RunPython.noop),
    ]
