from typing import Any

from django.core.management.base import CommandError, CommandParser

from scoring import services
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = (
        "Put every lead in its account again (by its email's domain, as the free-mail list says now), "
        "in chunks; leads whose account was named (API account_id, the admin) keep it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk-size", type=int, default=1000, help="Leads per transaction (default 1000).")

    def handle(self, *args: Any, chunk_size: int, **options: Any) -> None:
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        done = services.leads_accounts_assign_all(chunk_size=chunk_size)
        self.stdout.write(f"{done.leads} lead(s) moved to another account.")
