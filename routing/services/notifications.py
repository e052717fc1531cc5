"""Notification emails to teams and owners: written in the routing batch, sent by a
task every minute, each at most once, in the phases nurture's deliveries use
(:mod:`nurture.services.sending`):

1. **claim** (one transaction): notifications still ``sending`` after their
   sender's lease become ``unknown``; then up to ``limit`` ``pending`` ones are
   locked (``SKIP LOCKED`` on PostgreSQL, so senders at once take disjoint
   batches) and marked ``sending`` with the time of the claim; commit.
2. **send** (no transaction): each one built and handed to the SMTP server over
   one connection, stopping at half the lease.
3. **confirm** (one transaction): ``sent`` for those the server accepted; back to
   ``pending`` with the server's answer for those it refused or could not take (the
   next run tries again); set aside, with their error, those that cannot be built.

A sender stopped by an exception in phase 2 (a time limit, a shutdown, a lost
database) confirms what it knows before stopping: what went out is ``sent``, what
was never handed over is ``pending`` again, and the one in flight stays
``sending``. A sender that dies, or whose confirmation fails, leaves its batch
``sending``. When the lease (``LEADFLOW_NOTIFICATION_LEASE_MINUTES``) is over the
next run marks those ``unknown``: the server may have accepted them, so they are
not sent again until a person, having checked the mail server's log, sends them
again or marks them sent in the admin. Never twice; at worst unknown.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import sanitize_address
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_noop

from routing.models import Notification, Team
from scoring import selectors, setaside
from scoring import services as scoring
from scoring.said import AS_IT_CAME, Said, said

logger = logging.getLogger(__name__)

# What the sender sets aside (scoring.setaside): a notification that cannot even be built.
SET_ASIDE_NOTIFICATION = "notification"

Status = Notification.Status

LAPSED_ERROR = said(
    gettext_noop("the sender stopped before confirming it: the mail server may have it, so it is not sent again")
)
STOPPED_BEFORE = said(gettext_noop("not sent: the sender stopped before it"))
OUT_OF_TIME = said(gettext_noop("not sent: the batch ran out of time"))
# What a routing action says it did (an action run's outcome): who was sent the email.
NOTIFIED = gettext_noop("notified {to}")


def _exception(exc: BaseException) -> str:
    """An error from outside (the mail server's answer, the network's), as it came."""
    return f"{type(exc).__name__}: {exc}"[:300]


def notifications_enqueue() -> None:
    scoring.enqueue("routing.send_notifications", fallback="the minute routing task sends it")


_SUBJECT_MAX = Notification._meta.get_field("subject").max_length or 300


def subject_fit(subject: str) -> str:
    """``subject`` cut to what its column holds, with an ellipsis. A lead's email (up to
    254 characters, anyone's through a form) beside a rule's or team's name can pass it;
    the body says them in full."""
    return Truncator(subject).chars(_SUBJECT_MAX)


def team_addresses(team: Team) -> list[str]:
    """Where a team's emails go: its own address, else its team lead's (none if neither)."""
    if team.email:
        return [team.email]
    if team.team_lead is not None and team.team_lead.email:
        return [team.team_lead.email]
    return []


def notification_lease() -> timedelta:
    """How long a claimed batch is its sender's; one still ``sending`` after it is ``unknown``."""
    return timedelta(minutes=settings.LEADFLOW_NOTIFICATION_LEASE_MINUTES)


@dataclass
class Outgoing:
    """A notification claimed in phase 1, sent in phase 2, confirmed in phase 3.
    ``status`` stays ``sending`` while its fate is not known."""

    note: Notification
    status: str = Status.SENDING
    error: Said | None = None
    handed_over: bool = False  # given to the SMTP connection: it may have been accepted
    failure: setaside.Failure | None = None  # cannot be built: set aside


def notifications_send(
    *, limit: int = 200, now: datetime | None = None, email_connection: BaseEmailBackend | None = None
) -> int:
    """Send up to ``limit`` pending notifications over one connection (see the module
    docstring). Safe to run twice and from several workers at once. Returns how many
    were sent."""
    now = now or timezone.now()
    outgoing = notifications_claim(now=now, limit=limit)
    if not outgoing:
        return 0
    try:
        notifications_deliver(outgoing, email_connection=email_connection)
    except BaseException:
        # Stopped mid-batch: record what is known. Those never handed to the server
        # wait for the next run; the one in flight is left to the lease (unknown).
        for item in outgoing:
            if item.status == Status.SENDING and not item.handed_over:
                item.status, item.error = Status.PENDING, STOPPED_BEFORE
        notifications_confirm(outgoing, now=now)
        raise
    notifications_confirm(outgoing, now=now)
    return sum(1 for item in outgoing if item.status == Status.SENT)


def notifications_claim(*, now: datetime, limit: int) -> list[Outgoing]:
    """Phase 1: mark lapsed claims unknown, then claim a batch of pending notifications,
    committed before anything is sent."""
    with transaction.atomic():
        _lapsed_mark_unknown(now=now)
        pending = (
            Notification.objects.filter(status=Status.PENDING)
            .exclude(pk__in=selectors.set_aside_open(kind=SET_ASIDE_NOTIFICATION).values("row_id"))
            .order_by("id")
        )
        if connection.vendor == "postgresql":
            pending = pending.select_for_update(skip_locked=True, no_key=True)
        batch = list(pending[:limit])
        if not batch:
            return []
        Notification.objects.filter(pk__in=[note.pk for note in batch], status=Status.PENDING).update(
            status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return [Outgoing(note) for note in batch]


def _lapsed_mark_unknown(*, now: datetime) -> None:
    lapsed = Notification.objects.filter(status=Status.SENDING, claimed_at__lt=now - notification_lease())
    ids = list(lapsed.values_list("pk", flat=True))
    if not ids:
        return
    Notification.objects.filter(pk__in=ids, status=Status.SENDING).update(
        status=Status.UNKNOWN, error=LAPSED_ERROR.english(), error_said=LAPSED_ERROR.stored()
    )
    logger.warning(
        "routing: notifications %s were claimed but their sending never confirmed; marked unknown, not re-sent"
        " (check the mail server's log, then send again or mark sent in the admin)",
        ", ".join(map(str, ids)),
    )


def notifications_deliver(outgoing: list[Outgoing], *, email_connection: BaseEmailBackend | None = None) -> None:
    """Phase 2: build and send each claimed notification over one connection, outside
    any transaction; sets each item's status and error."""
    backend = email_connection or mail.get_connection()
    started = time.monotonic()
    budget = notification_lease().total_seconds() / 2
    opened = False
    try:
        for index, item in enumerate(outgoing):
            if time.monotonic() - started > budget:
                # Past half the lease: stop, so no other sender could judge these lapsed while we still send.
                for rest in outgoing[index:]:
                    rest.status, rest.error = Status.PENDING, OUT_OF_TIME
                return
            note = item.note
            try:
                message = _message(note, backend)
            except Exception as exc:
                # Not the server's answer but this row's content: it would fail every run.
                if setaside.is_transient(exc):
                    raise
                item.status, item.failure = Status.PENDING, setaside.Failure.of(note.pk, note.lead_id, exc)
                continue
            if not opened:
                try:
                    backend.open()
                except OSError as exc:  # smtplib's errors are OSErrors too
                    logger.warning("routing: cannot connect to the mail server: %s", exc)
                    for rest in outgoing[index:]:
                        if rest.failure is None:
                            rest.status, rest.error = (
                                Status.PENDING,
                                said(gettext_noop("could not connect: {error}"), error=_exception(exc)),
                            )
                    return
                opened = True
            item.handed_over = True
            try:
                backend.send_messages([message])
            except OSError as exc:
                # The server refused it (4xx, 5xx) or the line dropped: the next run tries again.
                item.status, item.error = Status.PENDING, said(AS_IT_CAME, error=_exception(exc))
                if not isinstance(exc, smtplib.SMTPResponseException):
                    _close_quietly(backend)  # the connection may be gone: the next message reconnects
                    opened = False
                continue
            except Exception as exc:
                if setaside.is_transient(exc):
                    raise
                # Something unforeseen once the message was handed over: the server may
                # have it, so it is not retried blindly; a person checks (the admin).
                logger.exception("routing: notification %s: sending failed unexpectedly; marked unknown", note.pk)
                item.status, item.error = (
                    Status.UNKNOWN,
                    said(gettext_noop("sending failed unexpectedly: {error}"), error=_exception(exc)),
                )
                continue
            item.status = Status.SENT
    finally:
        if opened and email_connection is None:
            _close_quietly(backend)


def _message(note: Notification, backend: BaseEmailBackend) -> mail.EmailMessage:
    """The notification as an email, built and its addresses checked as the backend
    will, so a notification that cannot be sent fails here, before it is handed over."""
    message = mail.EmailMessage(note.subject, note.body, to=list(note.to), connection=backend)
    message.message()
    encoding = message.encoding or settings.DEFAULT_CHARSET
    for address in [message.from_email, *message.recipients()]:
        sanitize_address(address, encoding)
    return message


def _close_quietly(backend: BaseEmailBackend) -> None:
    try:
        backend.close()
    except OSError:
        logger.debug("routing: closing the SMTP connection failed", exc_info=True)
        if hasattr(backend, "connection"):
            backend.connection = None


def notifications_confirm(outgoing: list[Outgoing], *, now: datetime) -> None:
    """Phase 3: write what became of each message, in one transaction, with a few
    statements whatever the batch size. One still ``sending`` is left to the lease."""
    sent = [item.note.pk for item in outgoing if item.status == Status.SENT]
    by_outcome: dict[tuple[str, str], list[int]] = defaultdict(list)  # (status, error's JSON) -> ids
    errors: dict[str, Said | None] = {}
    failures = [item.failure for item in outgoing if item.failure is not None]
    for item in outgoing:
        if item.failure is not None:
            error: Said | None = said(
                gettext_noop("set aside: {error}"),
                error=f"{item.failure.error_type}: {item.failure.message}"[:300],
            )
            status: str = Status.PENDING
        elif item.status in (Status.PENDING, Status.UNKNOWN):
            error, status = item.error, item.status
        else:
            continue
        key = json.dumps(None if error is None else error.stored())
        errors[key] = error
        by_outcome[status, key].append(item.note.pk)
    with transaction.atomic():
        if sent:
            # Unknown too: a sender slower than its lease still knows better than the one that gave up on it.
            Notification.objects.filter(pk__in=sent, status__in=[Status.SENDING, Status.UNKNOWN]).update(
                status=Status.SENT, sent_at=now, error="", error_said=None
            )
        for (new_status, key), ids in by_outcome.items():
            error = errors[key]
            Notification.objects.filter(pk__in=ids, status=Status.SENDING).update(
                status=new_status,
                error="" if error is None else error.english()[:300],
                error_said=None if error is None else error.stored(),
            )
        setaside.rows_set_aside(kind=SET_ASIDE_NOTIFICATION, failures=failures, now=now)


def notifications_send_again(*, ids: Iterable[int]) -> int:
    """Unknown notifications a person found were never delivered (the mail server's log
    says so): back in the outbox, the next run sends them. Returns how many."""
    count = Notification.objects.filter(pk__in=list(ids), status=Status.UNKNOWN).update(
        status=Status.PENDING, error="", error_said=None
    )
    if count:
        transaction.on_commit(notifications_enqueue)
    return int(count)


def notifications_mark_sent(*, ids: Iterable[int]) -> int:
    """Unknown notifications a person found were delivered: recorded as sent when they
    were claimed. Returns how many."""
    return int(
        Notification.objects.filter(pk__in=list(ids), status=Status.UNKNOWN).update(
            status=Status.SENT, sent_at=F("claimed_at"), error="", error_said=None
        )
    )


BACK_IN_THE_OUTBOX = said(gettext_noop("back in the outbox: the next run sends it"))


def _notifications_retry(ids: list[int]) -> dict[int, Said]:
    """Retry set-aside notifications: back in the outbox; the minute task sends them."""
    transaction.on_commit(notifications_enqueue)
    return dict.fromkeys(ids, BACK_IN_THE_OUTBOX)


setaside.register_kind(
    setaside.Kind(SET_ASIDE_NOTIFICATION, gettext_noop("Notification (routing)"), _notifications_retry)
)
