"""The nurture admin: template errors on the field, previews, figures, enrolling and exiting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from nurture import selectors, services
from nurture.models import Delivery, Enrollment, Sequence, Step
from tests.factories import LeadFactory
from tests.nurture.factories import SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


def sequence_form(**step: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Welcome",
        "key": "welcome",
        "description": "",
        "active": "on",
        "reenroll": "after_ended",
        "exit_on_conversion": "on",
        "exit_on_sales": "on",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-position": "1",
        "steps-0-wait_days": "0",
        "steps-0-wait_hours": "1",
        "steps-0-send_hour_start": "9",
        "steps-0-send_hour_end": "18",
        "steps-0-send_weekdays": ["0", "1", "2", "3", "4"],
        "steps-0-campaign": "welcome",
        "steps-0-subject_template": "Hello {{ lead.first_name }}",
        "steps-0-text_template": "Hi {{ lead.first_name }}",
        "steps-0-html_template": "<p>Hi {{ lead.first_name }}</p>",
    }
    data.update({f"steps-0-{name}": value for name, value in step.items()})
    return data


def test_a_valid_sequence_with_steps_is_saved(admin_client: Client) -> None:
    response = admin_client.post("/admin/nurture/sequence/add/", sequence_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    step = Step.objects.get(sequence__key="welcome")
    assert (step.send_hour_start, step.send_hour_end, step.send_weekdays) == (9, 18, [0, 1, 2, 3, 4])


@pytest.mark.parametrize(
    ("field", "template", "error"),
    [
        (
            "html_template",
            "<p>Hi</p>\n{% if lead.first_name %}\n<p>unclosed</p>",
            "Unclosed tag on line 2: &#x27;if&#x27;",
        ),
        ("text_template", "Hi\n{{ lead.first_name|shout }}", "line 2: Invalid filter: &#x27;shout&#x27;"),
        ("subject_template", "Hi {% endfor %}", "Invalid block tag on line 1: &#x27;endfor&#x27;"),
        # Django keeps an opening never closed as text: every lead would read it as written.
        ("subject_template", "Hola {{ lead.first_name", "line 1: &#x27;{{&#x27; is never closed with &#x27;}}&#x27;"),
        (
            "text_template",
            "Hi {{ lead.name }}\n{% if lead.city",
            "line 2: &#x27;{%&#x27; is never closed with &#x27;%}&#x27;",
        ),
        (
            "html_template",
            '{% include "nurture/no-such-part.html" %}',
            "rendering for a sample lead failed: line 1: nurture/no-such-part.html",
        ),
    ],
)
def test_template_errors_are_reported_on_the_field_not_at_send_time(
    admin_client: Client, field: str, template: str, error: str
) -> None:
    response = admin_client.post("/admin/nurture/sequence/add/", sequence_form(**{field: template}))

    assert response.status_code == 200
    page = response.content.decode()
    assert f"Template error: {error}" in page, page[page.find("errorlist") - 200 : page.find("errorlist") + 600]
    assert not Sequence.objects.exists()


@pytest.mark.parametrize("field", ["subject_template", "text_template", "html_template"])
@pytest.mark.parametrize(
    "template",
    [
        '{% include "../pyproject.toml" %}',
        "{% extends '../pyproject.toml' %}",
        '{% include "../../../../etc/passwd" %}',
        '{% include "/etc/passwd" %}',
        '{% include "./nurture/no-such-part.html" %}',
    ],
)
def test_a_step_loading_a_file_outside_the_templates_is_a_form_error(
    admin_client: Client, field: str, template: str
) -> None:
    response = admin_client.post("/admin/nurture/sequence/add/", sequence_form(**{field: template}))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Template error: " in page
    assert "[tool.setuptools" not in page, "nothing of the file is shown"
    assert "root:" not in page
    assert not Sequence.objects.exists()


def test_a_step_may_include_a_part_of_the_email_templates(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/nurture/sequence/add/", sequence_form(text_template='{% include "./nurture/email/base.txt" %}')
    )
    assert response.status_code == 302, response.content.decode()[:3000]


def test_a_send_window_without_days_is_refused(admin_client: Client) -> None:
    data = sequence_form()
    del data["steps-0-send_weekdays"]
    response = admin_client.post("/admin/nurture/sequence/add/", data)
    assert response.status_code == 200
    assert not Sequence.objects.exists()


def test_the_sequence_page_shows_figures_per_step(admin_client: Client) -> None:
    sequence = SequenceFactory.create()
    step = StepFactory.create(sequence=sequence, position=1)
    StepFactory.create(sequence=sequence, position=2)
    statuses = ["sent", "sent", "sent", "bounced", "unknown", "failed_temporary"]
    for index, status in enumerate(statuses):
        enrollment = Enrollment.objects.create(
            lead=LeadFactory.create(), sequence=sequence, enrolled_at=T0, position=1, status="completed"
        )
        Delivery.objects.create(
            enrollment=enrollment,
            step=step,
            message_id=f"<{index}@test>",
            status=status,
            opens=2 if index == 0 else 0,
            clicks=1 if index == 1 else 0,
            created_at=T0,
            updated_at=T0,
        )
    Enrollment.objects.filter(pk=enrollment.pk).update(status="exited", exit_reason="unsubscribed")

    [first, second] = selectors.sequence_step_figures(sequence=sequence)

    assert (first.sent, first.opened, first.clicked, first.bounced, first.unknown, first.retrying) == (3, 1, 1, 1, 1, 1)
    assert (first.unsubscribed, first.open_rate) == (1, "33%")
    assert second.sent == 0
    page = admin_client.get(f"/admin/nurture/sequence/{sequence.pk}/change/").content.decode()
    assert "Figures per step" in page
    assert "<td>1 (33%)</td>" in page
    assert "/preview/" in page
    assert "/enroll/" in page


def test_a_step_is_previewed_for_a_chosen_lead(admin_client: Client) -> None:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    LeadFactory.create(email="ana@example.com", first_name="Ana")

    page = admin_client.get(f"/admin/nurture/sequence/{sequence.pk}/preview/", {"lead": "ANA@example.com"})

    html = page.content.decode()
    assert page.status_code == 200
    assert "Hello Ana" in html
    assert "srcdoc=" in html
    assert "&lt;p&gt;Hi Ana" in html, "the HTML, escaped into the iframe"
    sample = admin_client.get(f"/admin/nurture/sequence/{sequence.pk}/preview/").content.decode()
    assert "Hello Ana" in sample, "the sample lead is Ana too"
    # The preview never lets a step's HTML into the admin page itself.
    StepFactory.create(
        sequence=sequence, position=2, html_template='"></iframe><script>alert(1)</script>', text_template="<b>t</b>"
    )
    page2 = admin_client.get(f"/admin/nurture/sequence/{sequence.pk}/preview/").content.decode()
    assert "<script>alert(1)</script>" not in page2
    assert "&quot;&gt;&lt;/iframe&gt;&lt;script&gt;" in page2
    assert "<b>t</b>" not in page2
    missing = admin_client.get(f"/admin/nurture/sequence/{sequence.pk}/preview/", {"lead": "nobody@example.com"})
    assert "No lead with id or email" in missing.content.decode()


def test_leads_are_enrolled_from_the_sequence_page(admin_client: Client) -> None:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    LeadFactory.create(email="ana@example.com")
    LeadFactory.create(email="out@example.com", unsubscribed_at=T0)

    response = admin_client.post(
        f"/admin/nurture/sequence/{sequence.pk}/enroll/",
        {"emails": "ana@example.com\nout@example.com, nobody@example.com"},
        follow=True,
    )

    page = response.content.decode()
    assert "1 lead enrolled." in page
    assert "Not enrolled, unsubscribed: out@example.com." in page
    assert "No lead with this email: nobody@example.com." in page
    assert Enrollment.objects.filter(sequence=sequence, lead__email="ana@example.com", status="active").exists()


def test_selected_enrollments_are_exited(admin_client: Client) -> None:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    enrollment = services.enrollment_try_start(lead=LeadFactory.create(), sequence=sequence, now=T0).enrollment
    assert enrollment is not None

    admin_client.post(
        "/admin/nurture/enrollment/", {"action": "exit_selected", "_selected_action": [enrollment.pk]}, follow=True
    )

    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "manual")


def test_the_lead_list_enrolls_and_exits_selected_leads(admin_client: Client) -> None:
    sequence = SequenceFactory.create(name="Toy news")
    StepFactory.create(sequence=sequence, position=1)
    leads = LeadFactory.create_batch(2)
    selected = [lead.pk for lead in leads]

    confirm = admin_client.post(
        "/admin/scoring/lead/", {"action": "enroll_leads_in_sequence", "_selected_action": selected}
    )
    assert confirm.status_code == 200
    assert "Toy news" in confirm.content.decode()
    assert not Enrollment.objects.exists(), "nothing before the sequence is chosen"

    done = admin_client.post(
        "/admin/scoring/lead/",
        {"action": "enroll_leads_in_sequence", "_selected_action": selected, "apply": "1", "sequence": sequence.pk},
        follow=True,
    )
    assert "2 leads enrolled." in done.content.decode()
    assert Enrollment.objects.filter(status="active").count() == 2

    admin_client.post(
        "/admin/scoring/lead/",
        {"action": "exit_leads_from_sequence", "_selected_action": selected[:1], "apply": "1", "sequence": sequence.pk},
    )
    assert Enrollment.objects.filter(status="active").count() == 1
    assert Enrollment.objects.get(lead=leads[0]).exit_reason == "manual"


def test_a_preview_for_a_lead_id_no_lead_has_says_so(admin_client: Client) -> None:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    # "²" is a digit to str.isdigit, which int() refuses: it was a server error.
    for typed in ("²", "9223372036854775807", "9223372036854775808", "9" * 30, "9" * 5000):
        page = admin_client.get(f"/admin/nurture/sequence/{sequence.pk}/preview/", {"lead": typed})
        assert page.status_code == 200, typed
        assert "No lead with id or email" in page.content.decode()
