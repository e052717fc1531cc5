from typing import Any

from django.core.management.base import CommandError, CommandParser

from scoring.commands import LeadflowCommand
from scoring.lead_export import leads_export
from scoring.models import Lead, ScoreGroup


class Command(LeadflowCommand):
    help = (
        "Write leads as CSV to standard output (… > leads.csv): fields, scores, group, stage and one column per "
        "custom attribute. Text that a spreadsheet would run as a formula is prefixed with '."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--group", action="append", default=[], help="Only leads in this score group (its key or name); may repeat."
        )
        parser.add_argument(
            "--excel",
            action="store_true",
            help="As Excel opens a CSV file in Spanish, French or German: a UTF-8 BOM, ';' between cells and ',' "
            "before decimals (the import reads it back).",
        )

    def handle(self, *args: Any, group: list[str], excel: bool = False, **options: Any) -> None:
        leads = Lead.objects.all()
        if group:
            groups = []
            for wanted in group:
                found = (
                    ScoreGroup.objects.filter(key=wanted).first()
                    or ScoreGroup.objects.filter(name__iexact=wanted).first()
                )
                if found is None:
                    known = ", ".join(ScoreGroup.objects.order_by("min_score").values_list("name", flat=True))
                    raise CommandError(f"--group: no score group {wanted!r} (groups: {known or 'none'})")
                groups.append(found.pk)
            leads = leads.filter(score_group__in=groups)
        count = leads_export(out=self.stdout, leads=leads, excel=excel)
        self.stderr.write(f"{count} leads exported.")
