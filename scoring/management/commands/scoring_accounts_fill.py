from typing import Any

from django.core.management.base import CommandError, CommandParser

from scoring import services
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = (
        "Fill every account's empty fields (industry, company size, annual revenue, country) from what "
        "trusted senders told of its leads' company, the lowest lead id first, and re-evaluate the fit of "
        "the accounts that change; in chunks, and running it again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk-size", type=int, default=500, help="Accounts per transaction (default 500).")
        parser.add_argument(
            "--from-lead-fields",
            action="store_true",
            help=(
                "Also fill from the fields of leads no trusted sender has told anything since Leadflow keeps it "
                "(leads written before): only if no key used in web pages or tracked form wrote leads' company fields."
            ),
        )

    def handle(self, *args: Any, chunk_size: int, from_lead_fields: bool, **options: Any) -> None:
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        done = services.accounts_fill_all(chunk_size=chunk_size, from_columns=from_lead_fields)
        self.stdout.write(f"{done.accounts} account(s) filled, of {done.read} with an empty field.")
