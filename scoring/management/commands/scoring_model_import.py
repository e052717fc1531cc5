from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring import model_file, services
from scoring.models import ScoreGroup, ScoringRule


class Command(BaseCommand):
    help = "Import a scoring model file (YAML or JSON): score groups and rules. All or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--check", action="store_true", help="Only check the file; change nothing.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Import only when no groups or rules exist yet (first run)."
        )

    def handle(self, *args: Any, path: Path, check: bool, if_empty: bool, **options: Any) -> None:
        if if_empty and (ScoreGroup.objects.exists() or ScoringRule.objects.exists()):
            self.stdout.write("A scoring model is already loaded; left it as it is.")
            return
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            spec = model_file.load_text(text)
        except model_file.ModelFileError as exc:
            lines = "\n".join(f"  {path}: {error}" for error in exc.errors)
            raise CommandError(f"{len(exc.errors)} problem(s); nothing was imported:\n{lines}") from None
        if check:
            self.stdout.write(self.style.SUCCESS(f"{path}: valid ({len(spec.groups)} groups, {len(spec.rules)} rules)"))
            return
        summary = services.scoring_model_import(spec=spec)
        self.stdout.write(
            f"Groups: {summary.groups_created} created, {summary.groups_updated} updated, "
            f"{summary.groups_deleted} deleted. Rules: {summary.rules_created} created, "
            f"{summary.rules_updated} updated."
        )
        if summary.rules_deactivated:
            self.stdout.write(f"Deactivated (not in the file): {', '.join(summary.rules_deactivated)}")
        entries = services.leads_rescore_fit_all()
        regrouped = services.leads_regroup()
        self.stdout.write(
            self.style.SUCCESS(f"Imported {path}. Fit rescored ({entries} ledger rows), {regrouped} leads regrouped.")
        )
