"""A step's email sent to a marketer as a test: rendered for the sample lead and sent at
once through the configured mail backend, so what leads will get can be seen in a real
mail client before any lead gets it."""

from __future__ import annotations

from django.conf import settings

from nurture import content
from nurture.models import Step
from nurture.services.messages import NurtureEmail

SUBJECT_PREFIX = "[Test] "


def step_sample_send(*, step: Step, to: str) -> str:
    """Send ``step``'s email, rendered for :data:`nurture.content.SAMPLE_LEAD`, to ``to``;
    returns the subject sent.

    Nothing is recorded (no delivery, no interaction) and links are left as written:
    there is no lead to track. Raises :class:`nurture.content.TemplateProblems` or
    whatever a template raises rendering, ``ValueError`` for an address the message
    cannot be built with, and the backend's errors (``smtplib.SMTPException``,
    ``OSError``) when the mail server cannot be reached or refuses it.
    """
    sequence = step.sequence
    compiled = content.compile_step(
        subject=step.subject_template, text=step.text_template, html_body=step.html_template
    )
    rendered = content.render(
        compiled,
        lead=content.SAMPLE_LEAD,
        step={"position": step.position, "campaign": step.campaign_key()},
        sequence={"key": sequence.key, "name": sequence.name},
        # No real link: a test must not unsubscribe anybody.
        unsubscribe=content.absolute("/n/u/test"),
        tracking=None,
        language=step.language,  # Leadflow's own words in the step's, as a lead gets them
    )
    subject = f"{SUBJECT_PREFIX}{rendered.subject}"
    message = NurtureEmail(subject=subject, body=rendered.text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    if rendered.html is not None:
        message.attach_alternative(rendered.html, "text/html")
    message.send()
    return subject
