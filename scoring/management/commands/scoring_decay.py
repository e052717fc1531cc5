from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext

from scoring import services
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = "Apply the decay policy now (what the nightly task does). Idempotent per day."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--day", help="Decay as of this day (YYYY-MM-DD), today or before unless --allow-future; default today."
        )
        parser.add_argument(
            "--allow-future",
            action="store_true",
            help="Let --day be after today: its decay is taken at once, and the days up to it then take none.",
        )
        parser.add_argument(
            "--jobs", type=int, help="Database sessions working at once (PostgreSQL); default LEADFLOW_DECAY_JOBS."
        )

    def handle(self, *args: Any, day: str | None, jobs: int | None, allow_future: bool, **options: Any) -> None:
        try:
            today = date.fromisoformat(day) if day else None
        except ValueError:
            raise CommandError(f"--day: {day!r} is not a date like 2026-11-24") from None
        # A day to come decays every quiet lead up to it now, and each day until then finds
        # the decay already taken: a typo of a year would take a month's points at once.
        if today is not None and today > timezone.localdate() and not allow_future:
            raise CommandError(
                f"--day: {today} is after today ({timezone.localdate()} in {timezone.get_current_timezone_name()}); "
                "its decay would be taken at once and the days up to it would take none "
                "(give --allow-future to do it anyway)"
            )
        if jobs is not None and jobs < 1:
            raise CommandError(f"--jobs: {jobs} is not 1 or more")
        summary = services.leads_decay(today=today, jobs=jobs)
        text = gettext("Decay of {day}: {leads} lead(s) lost {points} point(s)").format(
            day=summary.day, leads=summary.leads, points=-summary.points
        )
        if summary.scores != summary.leads:
            text += gettext(" over {scores} score(s) on their scorecards").format(scores=summary.scores)
        if summary.accounts:
            text += gettext("; {accounts} account score(s) brought in line with their leads").format(
                accounts=summary.accounts
            )
        self.stdout.write(self.style.SUCCESS(text + "."))
