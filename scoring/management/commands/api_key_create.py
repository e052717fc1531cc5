from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.api_keys import api_key_issue


class Command(BaseCommand):
    help = "Create an API key and print it (once: only its hash is kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who uses the key, e.g. 'Website'.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            issued = api_key_issue(name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"API key {issued.api_key.prefix} for {issued.api_key.name}; it is not shown again:")
        self.stdout.write(issued.key)
