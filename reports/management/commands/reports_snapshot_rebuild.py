from datetime import date, timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from reports import snapshots
from scoring.commands import LeadflowCommand


def _day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--{name}: {value!r} is not a date like 2026-11-24") from None


class Command(LeadflowCommand):
    help = (
        "Count the leads per score group at the end of past days again, from the group transitions "
        "(the overview's trend). Running it twice changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help=f"The last N days before today (default {snapshots.TREND_DAYS}).")
        parser.add_argument("--since", help="First day to count (YYYY-MM-DD); instead of --days.")
        parser.add_argument("--until", help="Last day to count (YYYY-MM-DD); default yesterday.")

    def handle(self, *args: Any, days: int | None, since: str | None, until: str | None, **options: Any) -> None:
        if days is not None and since is not None:
            raise CommandError("--days and --since: give one of them, not both")
        if days is not None and days < 1:
            raise CommandError(f"--days: {days} is not 1 or more")
        yesterday = timezone.localdate() - timedelta(days=1)
        last = _day("until", until) if until else yesterday
        if last > yesterday:
            raise CommandError(f"--until: {last} is not over yet (the last full day is {yesterday})")
        first = _day("since", since) if since else last - timedelta(days=(days or snapshots.TREND_DAYS) - 1)
        if first > last:
            raise CommandError(f"--since: {first} is after --until {last}")
        written = snapshots.group_counts_snapshot(first=first, last=last)
        self.stdout.write(
            self.style.SUCCESS(f"Counted {first} to {last}: {written} row(s) added or changed, the rest already right.")
        )
