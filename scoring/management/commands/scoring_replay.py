from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext

from scoring import services
from scoring.commands import LeadflowCommand
from scoring.models import ModelVersion, ReplayRun


class Command(LeadflowCommand):
    help = (
        "Replay a model version over the last N days beside the live model, in this process, and print "
        "the comparison (leads per group, moves, AUC). Writes no score: only the replay's own row."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", nargs="?", type=int, help="The model version's id.")
        parser.add_argument("--days", type=int, default=90, help="Days of interactions to replay (default 90).")
        parser.add_argument("--run", type=int, metavar="RUN", help="Run this queued replay instead.")
        parser.add_argument("--chunk", type=int, default=services.replay.REPLAY_CHUNK, help="Leads per chunk.")

    def handle(self, *args: Any, version: int | None, days: int, run: int | None, chunk: int, **options: Any) -> None:
        if chunk < 1:
            raise CommandError(f"--chunk: {chunk} is not 1 or more")
        if run is not None:
            if not ReplayRun.objects.filter(pk=run).exists():
                raise CommandError(f"--run: there is no replay {run}")
            run_id = run
        else:
            if version is None:
                raise CommandError("give a model version's id (or --run RUN)")
            chosen = ModelVersion.objects.filter(pk=version).first()
            if chosen is None:
                raise CommandError(f"version: there is no model version {version}")
            try:
                run_id = services.replay_start(version=chosen, days=days, background=False).pk
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        done = services.replay_run(run_id=run_id, chunk_size=chunk)
        if done.status != ReplayRun.Status.DONE or done.result is None:
            raise CommandError(f"replay {done.pk} {done.status}: {done.error}")
        result = done.result
        self.stdout.write(
            gettext("Replay {run}: {leads} leads over {days} days").format(
                run=done.pk, leads=result["leads"], days=done.days
            )
        )
        self.stdout.write(f"  {_history_seen()}")
        for group in result["groups"]:
            self.stdout.write(f"  {_group_line(group)}")
        self.stdout.write("  " + gettext("leads that would move: {moved}").format(moved=result["moved"]))
        for side, line in (("live", gettext("AUC live: {auc}")), ("draft", gettext("AUC draft: {auc}"))):
            auc = result["separation"][side]["auc"]
            shown = gettext("n/a (needs won and lost leads)") if auc is None else auc
            self.stdout.write("  " + line.format(auc=shown))
        for card in result.get("scorecards", []):
            self.stdout.write(
                gettext("Scorecard {key} ({name}): leads that would move: {moved}").format(
                    key=card["key"], name=card["name"], moved=card["moved"]
                )
            )
            for group in card["groups"]:
                self.stdout.write(f"  {_group_line(group)}")


def _group_line(group: dict[str, Any]) -> str:
    return gettext("{group}: live {live}, replayed {replayed}").format(
        group=group["name"], live=group["live"], replayed=group["draft"]
    )


def _history_seen() -> str:
    horizon = services.history_horizon()
    if horizon is None:
        return gettext("History kept: all of it (retention is off).")
    return gettext("History kept since {date}: older interactions are counted by month only.").format(
        date=horizon.date().isoformat()
    )
