from typing import Any

from reports import origins
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = (
        "Rebuild every lead's origin (source, first and last campaign touch, furthest funnel step, won, "
        "the rules that scored it, its group and scores) for the campaigns and rule lift reports, and the rule "
        "lift's sums and the overview's funnel, score and monthly MQL counts, from the interactions, the stage "
        "history, the ledger and the outcomes. Running it twice changes nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        written = origins.origins_rebuild()
        self.stdout.write(
            self.style.SUCCESS(
                f"{written} lead origin(s), rule lift, funnel, score and MQL sum(s) added, changed or removed, "
                "the rest already right."
            )
        )
