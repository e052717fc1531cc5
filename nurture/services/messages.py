"""Phase 2 of sending (:mod:`nurture.services.sending`): each claimed message rendered
and sent over one SMTP connection, outside any transaction, and what the server
answered classified."""

from __future__ import annotations

import logging
import secrets
import smtplib
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.translation import gettext_noop

from nurture import content
from nurture.models import Delivery
from nurture.services.claiming import Outgoing
from nurture.services.facts import claim_lease
from scoring.said import AS_IT_CAME, said

logger = logging.getLogger(__name__)

OUT_OF_TIME = said(gettext_noop("not sent: the batch ran out of time"))
# A value from outside (a template's error, the mail server's answer) is kept as it came, this long at most.
_FROM_OUTSIDE_CHARS = 1500


def _as_it_came(text: str) -> str:
    return text[:_FROM_OUTSIDE_CHARS]


class Outcome:
    SENT = Delivery.Status.SENT
    TEMPORARY = Delivery.Status.FAILED_TEMPORARY
    PERMANENT = Delivery.Status.FAILED_PERMANENT
    BOUNCED = Delivery.Status.BOUNCED


def classify_smtp_error(exc: BaseException) -> str:
    """Whether a send error may pass (temporary) or will not (permanent, bounced).

    Recipient refused with 5xx: the address is bad (bounced). Message refused
    with 5xx after DATA: permanent for this message. Sender refused, HELO and
    authentication errors are the installation's configuration, not the lead's
    address: retried (and logged). Everything else (4xx, disconnects, refused
    connections, timeouts) may pass.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return Outcome.BOUNCED if codes and all(500 <= code < 600 for code in codes) else Outcome.TEMPORARY
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPHeloError | smtplib.SMTPAuthenticationError):
        return Outcome.TEMPORARY
    if isinstance(exc, smtplib.SMTPResponseException):
        return Outcome.PERMANENT if 500 <= exc.smtp_code < 600 else Outcome.TEMPORARY
    return Outcome.TEMPORARY


def deliveries_send(outgoing: list[Outgoing], *, now: datetime, email_connection: BaseEmailBackend | None) -> None:
    """Phase 2: render and send over one connection. Sets each item's status and error."""
    compiled: dict[tuple[int, str], content.CompiledStep] = {}
    backend = email_connection or get_connection()
    started = time.monotonic()
    budget = claim_lease().total_seconds() / 2
    opened = False
    try:
        for index, item in enumerate(outgoing):
            if time.monotonic() - started > budget:
                # Past half the lease: stop, so no other sender could take these while we still send.
                for rest in outgoing[index:]:
                    rest.status, rest.error = Outcome.TEMPORARY, OUT_OF_TIME
                return
            try:
                message = _build_message(item, compiled=compiled, backend=backend)
            except Exception as exc:  # noqa: BLE001 - any template error is reported on the delivery
                item.status, item.error = (
                    Outcome.TEMPORARY,
                    said(gettext_noop("could not render the message: {error}"), error=_as_it_came(str(exc))),
                )
                logger.warning("nurture: delivery %s not rendered: %s", item.delivery_id, exc)
                continue
            if not opened:
                try:
                    backend.open()
                except (smtplib.SMTPException, OSError) as exc:
                    # No server to talk to: every message left waits for a retry.
                    logger.warning("nurture: cannot connect to the mail server: %s", exc)
                    for rest in outgoing[index:]:
                        rest.status, rest.error = (
                            Outcome.TEMPORARY,
                            said(gettext_noop("could not connect: {error}"), error=_exception(exc)),
                        )
                    return
                opened = True
            item.handed_over = True
            try:
                backend.send_messages([message])
            except (smtplib.SMTPException, OSError) as exc:
                item.status, item.error = classify_smtp_error(exc), said(AS_IT_CAME, error=_exception(exc))
                if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
                    # The connection is gone: the next message reconnects.
                    close_quietly(backend)
                    opened = False
                continue
            except ValueError as exc:
                # The message cannot be built (an invalid address, an encoding the
                # server does not take): it fails alone, for good.
                item.status, item.error = (
                    Outcome.PERMANENT,
                    said(gettext_noop("could not build the message: {error}"), error=_as_it_came(str(exc))),
                )
                logger.warning("nurture: delivery %s cannot be built: %s", item.delivery_id, exc)
                continue
            item.status = Outcome.SENT
    finally:
        if opened and email_connection is None:
            close_quietly(backend)


def _exception(exc: BaseException) -> str:
    """An error from outside (the mail server's answer, the network's), as it came."""
    return _as_it_came(f"{type(exc).__name__}: {exc}")


def close_quietly(backend: BaseEmailBackend) -> None:
    try:
        backend.close()
    except (smtplib.SMTPException, OSError):
        logger.debug("nurture: closing the SMTP connection failed", exc_info=True)
        if hasattr(backend, "connection"):
            backend.connection = None


class NurtureEmail(EmailMultiAlternatives):
    """A nurture message. Sets its MIME boundary itself (random, so it cannot occur in
    the body): the email package would otherwise compile a new regular expression per
    message to search the whole body for a safe one, a fifth of the sending CPU."""

    def message(self) -> Any:
        mime = super().message()
        if mime.is_multipart():
            mime.set_boundary(f"=_leadflow_{secrets.token_hex(16)}")
        return mime


def _build_message(
    item: Outgoing, *, compiled: dict[tuple[int, str], content.CompiledStep], backend: BaseEmailBackend
) -> EmailMultiAlternatives:
    step, sequence, lead = item.step, item.enrollment.sequence, item.enrollment.lead
    # The step in the lead's language (its `language` attribute) if written in it, else the site's.
    version = step.version_for((lead.attributes or {}).get("language"))
    if (step.pk, version.language) not in compiled:
        compiled[step.pk, version.language] = content.compile_step(
            subject=version.subject, text=version.text, html_body=version.html
        )
    campaign = step.campaign_key()
    unsubscribe = content.unsubscribe_url(lead_id=lead.pk, delivery_id=item.delivery_id)
    rendered = content.render(
        compiled[step.pk, version.language],
        lead=content.lead_context(lead),
        step={"position": step.position, "campaign": campaign},
        sequence={"key": sequence.key, "name": sequence.name},
        unsubscribe=unsubscribe,
        language=version.language,
        tracking=content.Tracking(
            lead_id=lead.pk,
            campaign=campaign,
            properties={
                "sequence": sequence.key,
                "step": step.position,
                "campaign": campaign,
                "delivery": item.delivery_id,
            },
        ),
    )
    message = NurtureEmail(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[str(lead.email)],
        headers={**rendered.headers, "Message-ID": item.message_id},
        connection=backend,
    )
    if rendered.html is not None:
        message.attach_alternative(rendered.html, "text/html")
    return message
