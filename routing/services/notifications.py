"""Notification emails to teams and owners: written in the routing batch, sent by
a task every minute."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from routing.models import Notification, Team
from scoring import selectors, setaside
from scoring import services as scoring

# What the sender sets aside (scoring.setaside): a notification that cannot even be built.
SET_ASIDE_NOTIFICATION = "notification"


def notifications_enqueue() -> None:
    scoring.enqueue("routing.send_notifications", fallback="the minute routing task sends it")


def team_addresses(team: Team) -> list[str]:
    """Where a team's emails go: its own address, else its team lead's (none if neither)."""
    if team.email:
        return [team.email]
    if team.team_lead is not None and team.team_lead.email:
        return [team.team_lead.email]
    return []


def notifications_send(*, limit: int = 200) -> int:
    """Send unsent notification emails over one connection. Each is claimed with
    ``SKIP LOCKED`` and marked sent in the same transaction, so two senders never
    both send one. A notification that cannot even be built (no valid address, a
    header it cannot carry) is set aside; the others go on. Returns how many were sent."""
    from django.core import mail

    sent = 0
    with transaction.atomic():
        batch = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True)
            .exclude(pk__in=selectors.set_aside_open(kind=SET_ASIDE_NOTIFICATION).values("row_id"))[:limit]
        )
        if not batch:
            return 0
        failures: list[setaside.Failure] = []
        with mail.get_connection() as email:
            for note in batch:
                try:
                    message = mail.EmailMessage(note.subject, note.body, to=list(note.to), connection=email)
                    message.send()
                except OSError as exc:  # SMTP errors are OSErrors: keep it for the next run
                    Notification.objects.filter(pk=note.pk).update(error=str(exc)[:300])
                    continue
                except Exception as exc:
                    # Not the server's answer but this row's content: it would fail every run.
                    if setaside.is_transient(exc):
                        raise
                    failures.append(setaside.Failure.of(note.pk, note.lead_id, exc))
                    continue
                sent += 1
                Notification.objects.filter(pk=note.pk).update(sent_at=timezone.now(), error="")
        setaside.rows_set_aside(kind=SET_ASIDE_NOTIFICATION, failures=failures)
    return sent


def _notifications_retry(ids: list[int]) -> dict[int, str]:
    """Retry set-aside notifications: back in the outbox; the minute task sends them."""
    transaction.on_commit(notifications_enqueue)
    return {pk: "back in the outbox: the next run sends it" for pk in ids}


setaside.register_kind(setaside.Kind(SET_ASIDE_NOTIFICATION, "Notification (routing)", _notifications_retry))
