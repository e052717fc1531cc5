import os
from typing import Any

from django.core.management.base import CommandError, CommandParser

from reports import demo_history
from scoring.commands import LeadflowCommand
from scoring.models import Lead


class Command(LeadflowCommand):
    help = (
        "Load a demo history of the toy store: leads, their interactions, scores, routing, nurture email "
        "and sales outcomes over the last days, played day by day through Leadflow's own services. "
        "The same seed gives the same history; running it again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=3000, help="How many leads (default 3000).")
        parser.add_argument("--days", type=int, default=90, help="Over how many days, up to yesterday (default 90).")
        parser.add_argument("--seed", type=int, default=1, help="The same seed gives the same history (default 1).")
        parser.add_argument(
            "--language",
            default="",
            help="The language of what people wrote in it: en or es (default: the site's, LEADFLOW_LANGUAGE).",
        )
        parser.add_argument(
            "--first-run",
            action="store_true",
            help="Load only on a first run of the embedded defaults: DATABASE_URL unset and no lead yet (bin/run).",
        )

    def handle(
        self, *args: Any, leads: int, days: int, seed: int, language: str, first_run: bool, **options: Any
    ) -> None:
        if first_run:
            reason = first_run_skip()
            if reason:
                self.stdout.write(f"No demo history: {reason}.")
                return
        self.stdout.write(f"Loading the toy store's demo history: {leads} leads over {days} days (seed {seed})…")
        try:
            summary = demo_history.demo_history_load(
                leads=leads, days=days, seed=seed, language=language, log=self.stdout.write
            )
        except demo_history.DemoRefused as exc:
            raise CommandError(str(exc)) from None
        if not summary.changed:
            self.stdout.write(
                self.style.SUCCESS(f"Nothing to add: this history was loaded already ({summary.seconds:.1f} s).")
            )
            return
        added = ", ".join(f"{count} {name}" for name, count in summary.added.items() if count)
        self.stdout.write(self.style.SUCCESS(f"Demo history loaded in {summary.seconds:.1f} s: {added}."))
        if summary.outcomes:
            kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(summary.outcomes.items()) if count)
            self.stdout.write(f"  Sales outcomes: {kinds}.")
        self.stdout.write(
            "  Nurture email and notifications were rendered and recorded as sent, but sent to nobody. "
            "Kept at the time of loading, not the history's: " + "; ".join(demo_history.NOT_BACKDATED) + "."
        )


def first_run_skip() -> str:
    """Why a first run loads no demo history ("" when it does): only the embedded defaults'
    first run gets one, never a database someone configured."""
    if os.environ.get("DATABASE_URL"):
        return "DATABASE_URL is set (run manage.py demo_history to load one anyway)"
    if Lead.objects.exists():
        return "the database has leads already"
    return ""
