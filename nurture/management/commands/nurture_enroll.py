from typing import Any

from django.core.management.base import CommandError, CommandParser

from nurture import services
from nurture.models import Sequence
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = "Enroll leads (by email) in a nurture sequence; says who was not enrolled and why."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sequence_key")
        parser.add_argument("emails", nargs="+", metavar="EMAIL")

    def handle(self, *args: Any, sequence_key: str, emails: list[str], **options: Any) -> None:
        sequence = Sequence.objects.filter(key=sequence_key).first()
        if sequence is None:
            known = ", ".join(Sequence.objects.order_by("key").values_list("key", flat=True)) or "none"
            raise CommandError(f"no sequence {sequence_key!r} (known: {known})")
        summary = services.enrollments_start_by_email(sequence=sequence, emails=emails)
        self.stdout.write(self.style.SUCCESS(f"{summary.enrolled} lead(s) enrolled in {sequence.key}."))
        for reason, skipped in sorted(summary.refused.items()):
            self.stdout.write(f"Skipped ({reason}): {', '.join(skipped)}")
        if summary.unknown:
            self.stdout.write(f"Skipped (no lead with this email): {', '.join(summary.unknown)}")
