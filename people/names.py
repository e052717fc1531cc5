"""How a person using Leadflow is named to others: their full name, else their user name
(a user name such as aball2 tells a colleague little)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser


def person_name(user: AbstractUser) -> str:
    return user.get_full_name() or user.get_username()
