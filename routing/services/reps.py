"""Sales reps made in one step: the person's account, the Sales group and the Rep row
together; and the invitation that lets a new rep set a password."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext

from people import languages
from routing.models import Rep, Team

SALES_GROUP = "Sales"


def rep_create(
    *,
    username: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    password: str | None,
    team: Team,
    capacity: int,
    available: bool = True,
) -> Rep:
    """A new user in the Sales group (no staff access) and their Rep row, all or nothing.

    ``password`` None leaves the account without a usable password: send
    :func:`rep_invite_send` so the person sets one. Raises ``Group.DoesNotExist``
    when the Sales group (made by the migrations) was deleted.
    """
    sales = Group.objects.get(name=SALES_GROUP)
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, email=email, password=password, first_name=first_name, last_name=last_name
        )
        user.groups.add(sales)
        return Rep.objects.create(user=user, team=team, capacity=capacity, available=available)


def rep_invite_link(*, user: AbstractBaseUser) -> str:
    """A link to set the account's password (Django's password reset: it works once, and
    expires after ``PASSWORD_RESET_TIMEOUT``)."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{settings.LEADFLOW_PUBLIC_URL}{path}"


def rep_invite_send(*, rep: Rep) -> None:
    """Email the rep a link to set a password, now, through the configured mail backend.

    Sent at once rather than through the notification outbox: the link opens the
    account, and the outbox keeps message bodies where marketers can read them.
    Raises ``ValueError`` for a rep without an email, and the backend's errors
    (``smtplib.SMTPException``, ``OSError``).
    """
    user = rep.user
    if not user.email:
        raise ValueError(f"{user.get_username()} has no email address to send the invitation to.")
    days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
    # In the rep's own language if they chose one, else the site's.
    with translation.override(languages.language_of(user)):
        body = render_to_string(
            "routing/email/rep_invite.txt",
            {
                "user": user,
                "team": rep.team,
                "link": rep_invite_link(user=user),
                "days": days,
                "login": f"{settings.LEADFLOW_PUBLIC_URL}{reverse('login')}",
            },
        )
        subject = gettext("Your Leadflow sales queue account")
    EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email]).send()
