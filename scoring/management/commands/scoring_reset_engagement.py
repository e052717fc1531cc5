from typing import Any

from django.core.management.base import CommandError, CommandParser

from scoring import services
from scoring.commands import LeadflowCommand
from scoring.models import Lead


class Command(LeadflowCommand):
    help = "Fresh start: set leads' engagement to 0, with the reason kept in the ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reason", required=True, help="Why (kept in the ledger).")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--all", action="store_true", help="Every lead.")
        who.add_argument("--email", nargs="+", help="These leads.")

    def handle(self, *args: Any, reason: str, all: bool, email: list[str] | None, **options: Any) -> None:
        lead_ids = None
        if email:
            found = dict(Lead.objects.filter(email__in=[e.lower() for e in email]).values_list("email", "pk"))
            missing = sorted({e.lower() for e in email} - set(found))
            if missing:
                raise CommandError(f"--email: no lead with {', '.join(missing)}; nothing was reset")
            lead_ids = list(found.values())
        try:
            changed = services.leads_engagement_reset(reason=reason, lead_ids=lead_ids)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Engagement reset to 0 for {changed} lead(s)."))
