from typing import Any

from django.core.management.base import CommandError, CommandParser

from intake.api_keys import api_key_revoke
from intake.models import ApiKey
from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = "Revoke an API key by its prefix (the part after lf_): its requests get 401 from now on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        api_key = ApiKey.objects.filter(prefix=prefix.removeprefix("lf_").split("_")[0]).first()
        if api_key is None:
            raise CommandError(f"no API key has the prefix {prefix!r}")
        api_key_revoke(api_key=api_key)
        self.stdout.write(self.style.SUCCESS(f"Revoked {api_key}."))
