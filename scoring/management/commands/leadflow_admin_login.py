import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandParser

from scoring.commands import LeadflowCommand


class Command(LeadflowCommand):
    help = "First run: create the 'admin' superuser with a random password and print the login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        saved = Path(settings.VAR_DIR) / "admin-login.txt"
        user_model = get_user_model()
        if not user_model.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser(username=username, email="", password=password)
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.touch(mode=0o600)
            saved.write_text(f"{username} {password}\n", encoding="utf-8")
        if saved.exists():
            name, _, password = saved.read_text(encoding="utf-8").strip().partition(" ")
            self.stdout.write(f"Admin login: user {name}, password {password}  (kept in {saved})")
        else:
            self.stdout.write(
                f"User {username!r} already exists; set a new password with: manage.py changepassword {username}"
            )
