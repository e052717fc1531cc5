from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext

from nurture import content, sequence_file, services
from nurture.models import Sequence
from scoring import sentences
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = "Import nurture sequences from a YAML (or JSON) file. All or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--check", action="store_true", help="Only check the file; change nothing.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Import only when no sequence exists yet (first run)."
        )

    def handle(self, *args: Any, path: Path, check: bool, if_empty: bool, **options: Any) -> None:
        if if_empty and Sequence.objects.exists():
            self.stdout.write(gettext("Nurture sequences are already loaded; left them as they are."))
            return
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            spec = sequence_file.load_text(text, check_templates=content.check_templates)
        except sequence_file.SequenceFileError as exc:
            self._fail(path, exc.errors)
        steps = sum(len(s.steps) for s in spec.sequences)
        try:
            # A check imports and rolls back, so it refuses what the import would (unknown groups…).
            summary = services.sequences_import(spec=spec, dry_run=check)
        except services.SequenceImportError as exc:
            self._fail(path, exc.errors)
        if check:
            valid = gettext("{path}: valid ({sequences} sequences, {steps} steps)")
            self.stdout.write(self.style.SUCCESS(valid.format(path=path, sequences=len(spec.sequences), steps=steps)))
            return
        self.stdout.write(
            self.style.SUCCESS(
                gettext("Imported {path}: {created} sequence(s) created, {updated} updated ({steps} steps).").format(
                    path=path, created=len(summary.created), updated=len(summary.updated), steps=steps
                )
            )
        )
        if summary.untouched:
            untouched = ", ".join(summary.untouched)
            self.stdout.write(gettext("Not in the file, left as they are: {sequences}").format(sequences=untouched))

    def _fail(self, path: Path, errors: list[str]) -> NoReturn:
        # In the site's language (LEADFLOW_LANGUAGE), as a command's gettext speaks.
        lines = "\n".join(f"  {path}: {error}" for error in sentences.problems(errors))
        said = gettext("{count} problem(s); nothing was imported:").format(count=len(errors))
        raise CommandError(f"{said}\n{lines}")
