"""Opens and clicks of nurture emails come back as interactions, feed scores and the figures."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from intake.api_keys import api_key_issue
from nurture import selectors, services
from nurture.content import WRITTEN_END, WRITTEN_START, Tracking, compile_step, render, track_text
from nurture.models import Delivery
from reports import queries
from reports.filters import Filters
from scoring import services as scoring_services
from scoring.models import Interaction, Lead, RuleCondition
from tests.factories import LeadFactory, ScoringRuleFactory, interaction_create
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db


T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


def sent_html(smtp: Sink) -> str:
    [message] = smtp.messages
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_a_click_is_a_scored_interaction_with_the_sequence_and_step(smtp: Sink) -> None:
    rule = ScoringRuleFactory.create(key="nurture-click", points=5, interaction_types=["email_click"])
    RuleCondition.objects.create(rule=rule, field="sequence", operator="equals", value="welcome")
    sequence = SequenceFactory.create(key="welcome")
    StepFactory.create(sequence=sequence, position=1, campaign="spring-blog")
    lead = LeadFactory.create()
    services.enrollment_try_start(lead=lead, sequence=sequence, now=T0)
    services.deliveries_send_due(now=T0)
    delivery = Delivery.objects.get()
    html = sent_html(smtp)
    [click] = [unescape(u) for u in re.findall(r'href="([^"]+/t/c/[^"]+)"', html)]
    [pixel] = re.findall(r'<img src="([^"]+/t/o/[^"]+)"', html)

    clicked = Client().get(urlsplit(click).path)
    opened = Client().get(urlsplit(unescape(pixel)).path)

    assert clicked.status_code in (301, 302, 303, 307, 308)
    assert clicked["Location"] == "https://toys.example/blog?a=1&b=2", "to the link as written"
    assert opened.status_code == 200
    interactions = {i.type: i for i in Interaction.objects.filter(lead=lead)}
    assert set(interactions) == {"email_click", "email_open"}
    for interaction in interactions.values():
        expected = {"sequence": "welcome", "step": 1, "campaign": "spring-blog", "delivery": delivery.pk}
        assert interaction.properties.items() >= expected.items(), interaction.properties

    scoring_services.interactions_score_pending()
    assert Lead.objects.get(pk=lead.pk).engagement_score == 5, "the click moved the score"

    counted = services.deliveries_tally_engagement(now=timezone.now() + timedelta(minutes=3))
    assert counted == 2
    delivery.refresh_from_db()
    assert (delivery.opens, delivery.clicks) == (1, 1)
    assert services.deliveries_tally_engagement(now=timezone.now() + timedelta(minutes=3)) == 0, "counted once"
    [figures] = selectors.sequence_step_figures(sequence=sequence)
    assert (figures.sent, figures.opened, figures.clicked) == (1, 1, 1)


def test_the_plain_text_part_links_are_click_tracked_like_the_html_ones(smtp: Sink) -> None:
    """A reader of the text/plain part clicks a signed link too, recorded as the HTML's
    clicks are; the unsubscribe link stays as it is, and a sentence's full stop or a
    closing bracket after a link is not taken into it."""
    sequence = SequenceFactory.create(key="welcome")
    StepFactory.create(
        sequence=sequence,
        position=1,
        campaign="tools",
        text_template=(
            "Mira https://andina.example/herramientas. O (https://andina.example/precios?x=1&y=2).\n"
            "Baja: {{ unsubscribe_url }}\nEscribe a shop@toys.example o a ftp://andina.example/f"
        ),
    )
    lead = LeadFactory.create()
    services.enrollment_try_start(lead=lead, sequence=sequence, now=T0)
    services.deliveries_send_due(now=T0)
    delivery = Delivery.objects.get()
    [message] = smtp.messages
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text = str(part.get_content()).replace("\r\n", "\n")
    unsubscribe = str(message["List-Unsubscribe"]).strip().strip("<>")

    assert "https://andina.example/" not in text.replace("ftp://andina.example/f", ""), text
    assert f"Baja: {unsubscribe}\n" in text, "the unsubscribe link is left as it is"
    assert "shop@toys.example o a ftp://andina.example/f" in text, "only web links are tracked"
    clicks = re.findall(r"https://leadflow\.example(/t/c/[\w.:-]*[\w:-])", text)
    assert len(clicks) == 2, text
    assert re.search(r"/t/c/\S+\. O \(https://leadflow\.example/t/c/\S+\)\.\n", text), text
    went = [Client().get(click)["Location"] for click in clicks]

    assert went == ["https://andina.example/herramientas", "https://andina.example/precios?x=1&y=2"]
    recorded = Interaction.objects.filter(lead=lead, type="email_click").order_by("pk")
    expected = {"sequence": "welcome", "step": 1, "campaign": "tools", "delivery": delivery.pk}
    assert [c.properties["url"] for c in recorded] == went
    for click in recorded:
        assert click.properties.items() >= expected.items(), click.properties


def test_an_address_a_lead_s_value_brings_is_never_made_a_tracked_link(smtp: Sink) -> None:
    """Anyone may post a tracked form with a first name that is an address: were it made a
    signed click link, Leadflow's own link would redirect to whatever site they chose. Only
    the addresses the step's template writes are tracked; a value stays text (escaped in
    the HTML), and a link the template writes keeps being tracked, a lead's value after its
    site included."""
    sequence = SequenceFactory.create(key="welcome")
    StepFactory.create(
        sequence=sequence,
        position=1,
        text_template=(
            "Hallo {{ lead.first_name }}, lies https://toys.example/blog. {{ lead.company }}\n"
            "https://toys.example{{ lead.attributes.path }} https://toys.example/p?n={{ lead.attributes.path }}"
        ),
        html_template=(
            '<p>Hallo {{ lead.first_name }} <a href="https://toys.example/blog">lies</a>'
            ' <a href="{{ lead.attributes.site }}">{{ lead.company }}</a>'
            ' <a href="https://toys.example{{ lead.attributes.path }}">x</a></p>'
        ),
    )
    lead = LeadFactory.create(
        first_name="https://evil.example/login",
        company="<b>https://evil.example/a?b=1&c=2</b>",
        attributes={"site": "https://evil.example/site", "path": ".evil.example/p"},
    )
    services.enrollment_try_start(lead=lead, sequence=sequence, now=T0)
    services.deliveries_send_due(now=T0)
    [message] = smtp.messages
    text_part = message.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = str(text_part.get_content()).replace("\r\n", "\n")
    html = sent_html(smtp)

    text_clicks = re.findall(r"https://leadflow\.example(/t/c/[\w.:-]*[\w:-])", text)
    html_clicks = [urlsplit(unescape(u)).path for u in re.findall(r'href="([^"]+/t/c/[^"]+)"', html)]
    text_went = [Client().get(click)["Location"] for click in text_clicks]
    html_went = [Client().get(click)["Location"] for click in html_clicks]

    assert text_went == ["https://toys.example/blog", "https://toys.example/p?n=.evil.example/p"], text
    assert html_went == ["https://toys.example/blog"], html
    assert "Hallo https://evil.example/login, lies" in text, "the value is left as it is"
    assert "<b>https://evil.example/a?b=1&c=2</b>\n" in text
    assert "https://toys.example.evil.example/p " in text, "a value that names the site is not tracked"
    assert "Hallo https://evil.example/login <a" in html
    assert "&lt;b&gt;https://evil.example/a?b=1&amp;c=2&lt;/b&gt;</a>" in html, "escaped as any value is"
    assert '<a href="https://evil.example/site">' in html
    assert '<a href="https://toys.example.evil.example/p">' in html


def test_an_attribute_s_name_holding_the_template_s_marks_is_no_tracked_link() -> None:
    """A page may name an attribute: were its marks kept, a template printing the names
    would take one for the marketer's own text, and track its address."""
    name = f"{WRITTEN_START}https://evil.example/k{WRITTEN_END}"
    compiled = compile_step(
        subject="Hi", text="{% for name in lead.attributes %}{{ name }} {% endfor %}", html_body="<p>Hi</p>"
    )
    lead = LeadFactory.create(attributes={name: "x"})

    message = render(
        compiled,
        lead={"attributes": lead.attributes},
        step={},
        sequence={},
        unsubscribe="-",
        tracking=Tracking(lead.pk, "c", {}),
    )

    assert "https://evil.example/k" in message.text
    assert "/t/c/" not in message.text


@pytest.mark.parametrize(
    ("opening", "closing"),
    [
        ("\N{LEFT-POINTING DOUBLE ANGLE QUOTATION MARK}", "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}"),
        ("\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"),
        ("\N{LEFT SINGLE QUOTATION MARK}", "\N{RIGHT SINGLE QUOTATION MARK}"),
        ("\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}", "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"),
    ],
)
def test_a_plain_text_link_between_quotes_leaves_the_closing_quote_out(opening: str, closing: str) -> None:
    """Spanish text quotes a link «así»: the closing quote is the sentence's, not the
    address's, or a click goes to https://andina.example/guia» (not found)."""
    text = track_text(
        f"{WRITTEN_START}Lee {opening}https://andina.example/guia{closing}.{WRITTEN_END}",
        tracking=Tracking(LeadFactory.create().pk, "c", {}),
        unsubscribe="-",
    )

    [click] = re.findall(rf"Lee {opening}https?://[^/\s]+(/t/c/[^\s{closing}]+){closing}\.$", text) or [text]
    assert Client().get(click)["Location"] == "https://andina.example/guia"


def test_a_tampered_click_link_records_nothing(smtp: Sink) -> None:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    services.enrollment_try_start(lead=LeadFactory.create(), sequence=sequence, now=T0)
    services.deliveries_send_due(now=T0)
    [click] = [unescape(u) for u in re.findall(r'href="([^"]+/t/c/[^"]+)"', sent_html(smtp))]

    response = Client().get(urlsplit(click).path[:-3] + "xyz")

    assert response.status_code in (400, 404)
    assert not Interaction.objects.exists()


def test_opens_and_clicks_are_tallied_onto_deliveries_once_and_only_when_settled(smtp: Sink) -> None:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    lead = LeadFactory.create()
    services.enrollment_try_start(lead=lead, sequence=sequence, now=T0)
    services.deliveries_send_due(now=T0)
    delivery = Delivery.objects.get()
    now = timezone.now()

    def record(kind: str, key: str, **properties: object) -> None:
        interaction_create(lead=lead, type=kind, occurred_at=now, idempotency_key=key, properties=properties)

    record("email_open", "o1", delivery=delivery.pk)
    record("page_view", "p1", url="https://toys.example/")
    record("email_click", "c1", delivery=delivery.pk)
    record("email_click", "c2", campaign="not from nurture")
    record("email_open", "o2", delivery=delivery.pk)
    Interaction.objects.filter(idempotency_key="o2").update(received_at=now + timedelta(minutes=5))

    assert services.deliveries_tally_engagement(now=now + timedelta(minutes=3)) == 2
    delivery.refresh_from_db()
    assert (delivery.opens, delivery.clicks) == (1, 1)
    assert services.deliveries_tally_engagement(now=now + timedelta(minutes=3)) == 0, "each counted once"
    assert services.deliveries_tally_engagement(now=now + timedelta(minutes=8)) == 1, "the late one, once settled"
    delivery.refresh_from_db()
    assert (delivery.opens, delivery.clicks) == (2, 1)


@pytest.mark.parametrize("delivery", ["²", "9223372036854775808", "9" * 30, 2**63, 2**70, "-1", True])
def test_an_event_naming_no_real_delivery_is_not_tallied_and_stops_nothing(smtp: Sink, delivery: object) -> None:
    # Anyone with a key that sends events can send an email_open with any "delivery":
    # one that is no delivery's id must not stop the tally for the opens after it.
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    lead = LeadFactory.create()
    services.enrollment_try_start(lead=lead, sequence=sequence, now=T0)
    services.deliveries_send_due(now=T0)
    real = Delivery.objects.get()
    now = timezone.now()
    interaction_create(
        lead=lead, type="email_open", occurred_at=now, idempotency_key="odd", properties={"delivery": delivery}
    )
    interaction_create(
        lead=lead, type="email_open", occurred_at=now, idempotency_key="real", properties={"delivery": real.pk}
    )

    assert services.deliveries_tally_engagement(now=now + timedelta(minutes=3)) == 1
    real.refresh_from_db()
    assert (real.opens, real.clicks) == (1, 0)
    assert services.deliveries_tally_engagement(now=now + timedelta(minutes=3)) == 0, "the cursor moved past both"


def test_an_open_or_click_counts_only_onto_a_delivery_to_its_own_lead(smtp: Sink) -> None:
    # Delivery ids count up from 1: anyone who can send events (a key read from a web page
    # included) named another lead's delivery in an "Email Opened" of their own, and the
    # sequence's figures counted it as that email's open.
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    lead, other = LeadFactory.create(), LeadFactory.create()
    services.enrollment_try_start(lead=lead, sequence=sequence, now=T0)
    services.deliveries_send_due(now=T0)
    delivery = Delivery.objects.get()
    now = timezone.now()
    for n in range(3):
        interaction_create(
            lead=other,
            type="email_open",
            occurred_at=now,
            idempotency_key=f"o{n}",
            properties={"delivery": delivery.pk},
        )
    interaction_create(
        lead=other, type="email_click", occurred_at=now, idempotency_key="c", properties={"delivery": delivery.pk}
    )
    interaction_create(
        lead=lead, type="email_open", occurred_at=now, idempotency_key="own", properties={"delivery": delivery.pk}
    )

    assert services.deliveries_tally_engagement(now=now + timedelta(minutes=3)) == 1
    delivery.refresh_from_db()
    assert (delivery.opens, delivery.clicks) == (1, 0)
    [figures] = selectors.sequence_step_figures(sequence=sequence)
    assert (figures.opened, figures.clicked) == (1, 0)


def test_opens_and_clicks_sent_with_a_key_used_in_web_pages_never_count_onto_a_delivery(smtp: Sink) -> None:
    # Anyone can read a key used in web pages and name any lead by email there, and delivery
    # ids count up from 1: an "Email Opened" for the recipient naming delivery 1, 2, 3…
    # counted every match. Nurture's opens and clicks come back through its signed links, or
    # from a server (an email provider's webhook relayed with a key kept on a server): a page's
    # message naming a delivery, a sequence or a step is refused, and the figures stay as they were.
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    lead = LeadFactory.create(email="ana@example.com")
    services.enrollment_try_start(lead=lead, sequence=sequence, now=T0)
    services.deliveries_send_due(now=T0)
    delivery = Delivery.objects.get()
    before = (selectors.sequence_step_figures(sequence=sequence), queries.nurture_steps(Filters()))

    def segment(*, public: bool) -> Client:
        key = api_key_issue(name="Website" if public else "Backend", public=public).key
        basic = base64.b64encode(f"{key}:".encode()).decode()
        return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}")

    def opened(client: Client, n: int, event: str = "Email Opened", **properties: object) -> Any:
        message = {
            "type": "track",
            "messageId": f"m-{n}",
            "userId": "ana@example.com",
            "event": event,
            "properties": {"delivery": delivery.pk, **properties},
        }
        return client.post("/v1/track", json.dumps(message), content_type="application/json")

    page = segment(public=True)
    answers = [opened(page, n) for n in range(5)]
    answers.append(opened(page, 5, "Email Link Clicked", sequence=sequence.key, step=1))
    assert [a.status_code for a in answers] == [400] * 6
    assert all("properties.delivery" in a.json()["errors"] for a in answers)
    assert not Interaction.objects.filter(lead=lead).exists()
    assert services.deliveries_tally_engagement(now=timezone.now() + timedelta(minutes=3)) == 0
    delivery.refresh_from_db()
    assert (delivery.opens, delivery.clicks) == (0, 0)
    assert (selectors.sequence_step_figures(sequence=sequence), queries.nurture_steps(Filters())) == before

    assert opened(segment(public=False), 6).status_code == 200
    assert services.deliveries_tally_engagement(now=timezone.now() + timedelta(minutes=3)) == 1
    delivery.refresh_from_db()
    assert (delivery.opens, delivery.clicks) == (1, 0)
