from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext

from intake import imports
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = (
        "Import the leads of a CSV file as a mapping file (YAML) says: creates or updates each lead by the key "
        "column, records outcomes; safe to run again. Prints the counts and every row set aside, with its reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file.")
        parser.add_argument("--mapping", type=Path, required=True, help="The mapping file (YAML); see examples/.")

    def handle(self, *args: Any, file: Path | str, mapping: Path | str, **options: Any) -> None:
        file, mapping = Path(file), Path(mapping)
        try:
            loaded = imports.mapping_load(mapping.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"--mapping: cannot read {mapping}: {exc.strerror}") from None
        except imports.MappingError as exc:
            raise CommandError(f"{mapping}: {exc}") from None
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None

        def progress(result: imports.ImportResult) -> None:
            if options["verbosity"] > 1:
                self.stderr.write(f"{result.done} of {result.total} rows")

        try:
            result = imports.leads_import(data=data, mapping=loaded, progress=progress)
        except imports.MappingError as exc:
            raise CommandError(f"{mapping}: {exc}") from None
        except imports.FileError as exc:
            raise CommandError(f"{file}: {exc}") from None
        for error in result.errors:
            self.stdout.write(str(error))
        counts = result.counts()
        decimal = gettext(", decimal {decimal}").format(decimal=repr(result.decimal)) if result.decimal else ""
        self.stdout.write(
            self.style.SUCCESS(
                gettext(
                    "{total} rows ({encoding}, delimiter {delimiter}{decimal}): {created} created, {updated} updated, "
                    "{unchanged} unchanged, {set_aside} set aside; {outcomes} outcomes recorded."
                ).format(
                    total=counts["total"],
                    encoding=result.encoding,
                    delimiter=repr(result.delimiter),
                    decimal=decimal,
                    created=counts["created"],
                    updated=counts["updated"],
                    unchanged=counts["unchanged"],
                    set_aside=counts["set_aside"],
                    outcomes=counts["outcomes_recorded"],
                )
            )
        )
