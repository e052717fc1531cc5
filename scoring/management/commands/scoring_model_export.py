import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from scoring import model_file, services
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = (
        "Export the model (name, score groups, rules, decay, event types, nurture sequences, teams and routing "
        "rules) as a YAML model file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", type=Path, help="Where to write; standard output if omitted.")

    def handle(self, *args: Any, path: Path | None, **options: Any) -> None:
        text = model_file.dump_text(services.scoring_model_export())
        if path is None:
            sys.stdout.write(text)
        else:
            path.write_text(text, encoding="utf-8")
            self.stdout.write(self.style.SUCCESS(f"Wrote {path}"))
