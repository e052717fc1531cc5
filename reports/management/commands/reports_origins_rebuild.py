from typing import Any

from django.core.management.base import BaseCommand

from reports import origins


class Command(BaseCommand):
    help = (
        "Rebuild every lead's origin (source, first and last campaign touch, furthest funnel step) "
        "for the campaigns report, from the interactions and the stage history. Running it twice changes nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        written = origins.origins_rebuild()
        self.stdout.write(
            self.style.SUCCESS(f"{written} lead origin(s) added, changed or removed, the rest already right.")
        )
