from typing import Any

from django.core.management.base import CommandError, CommandParser

from intake.api_keys import api_key_issue
from intake.models import ApiScope, default_api_scopes
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = (
        "Create an API key and print it (once: only its hash is kept). "
        f"Without --scope it may only send events ({', '.join(default_api_scopes())})."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who uses the key, e.g. 'Website'.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            help="What the key may do; repeat for several. One of: "
            + "; ".join(f"{scope.value} ({scope.english_label})" for scope in ApiScope),
        )

        parser.add_argument(
            "--public",
            action="store_true",
            help="A key used in web pages (a Segment or RudderStack write key): it may only send events, through "
            "the Segment and RudderStack endpoints, counted per address and per lead (LEADFLOW_RATE_BROWSER_...).",
        )

    def handle(self, *args: Any, name: str, scopes: list[str] | None, public: bool, **options: Any) -> None:
        try:
            issued = api_key_issue(name=name, scopes=scopes, public=public)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        api_key = issued.api_key
        self.stderr.write(
            f"API key {api_key.prefix} for {api_key.name}, scopes {', '.join(api_key.scopes)}"
            f"{', used in web pages' if api_key.public else ''}; it is not shown again:"
        )
        self.stdout.write(issued.key)
