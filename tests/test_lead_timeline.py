"""A lead's whole story on its admin page: every kind of event, newest first, a page at
a time, in the same number of queries however long the story."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now as django_now

from nurture import services as nurture
from nurture.models import Delivery, Enrollment
from routing import sales
from routing.models import ActionRun, Outcome, QueueItem, RoutingAction, RoutingRule
from scoring import outcomes, services, timeline
from scoring import rules as pure
from scoring.models import GroupTransition, Interaction, Lead, LeadPrediction, ScoreEntry, ScoreGroup, TrainedModel
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, adjust, marketer, rule

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 2, 9, tzinfo=UTC)


@dataclass(frozen=True)
class Story:
    lead: Lead
    interaction: Interaction
    item: QueueItem


def a_story(*, email: str = "ada@example.com", interactions: int = 1) -> Story:
    """A lead that has every kind of event: interactions (with a URL, campaign and form), a
    rule's award and a change by hand in the ledger, a group crossing, a nurture
    enrollment with an email sent and its end, a routing action run, a queue item, and
    sales' claim, qualification (BANT) and a won deal reported by the CRM."""
    lead = LeadFactory.create(email=email, first_name="Ada", last_name="Lovelace")
    if not ScoreGroup.objects.filter(min_score=10).exists():
        ScoreGroupFactory.create(name="Warm", min_score=10)
    demo = ScoringRuleFactory.create(name="Asked for a demo", key=f"demo-{lead.pk}")
    first = None
    for n in range(interactions):
        made = InteractionFactory.create(
            lead=lead,
            type="form_submit",
            occurred_at=START + timedelta(minutes=n),
            properties={"url": "https://shop.example/pricing", "campaign": "spring-sale", "form": "demo-request"},
        )
        first = first or made
    assert first is not None
    ScoreEntry.objects.create(
        lead=lead, dimension="engagement", delta=7, cause="rule", rule=demo, interaction=first, occurred_at=START
    )
    Lead.objects.filter(pk=lead.pk).update(engagement_score=7)
    adjust(lead, 20)  # to 27: crosses into Warm
    crossing = GroupTransition.objects.get(lead=lead, kind="score")

    sequence = SequenceFactory.create(name="Welcome", exit_on_sales=False, exit_on_conversion=False)
    step = StepFactory.create(sequence=sequence, position=1, subject_template="Hello there")
    enrollment = nurture.enrollment_try_start(lead=lead, sequence=sequence).enrollment
    assert enrollment is not None
    Delivery.objects.create(
        enrollment=enrollment,
        step=step,
        message_id=f"<m-{lead.pk}@leadflow>",
        status="sent",
        sent_at=START,
        opens=2,
        clicks=1,
        created_at=START + timedelta(hours=1),
        updated_at=START + timedelta(hours=1),
    )
    assert nurture.enrollment_exit(lead=lead, sequence=sequence)

    rule = RoutingRule.objects.create(key=f"vip-{lead.pk}", name="Tag VIPs", trigger="enters_group")
    action = RoutingAction.objects.create(rule=rule, kind="add_tag", tag="vip")
    ActionRun.objects.create(transition=crossing, action=action, outcome="tagged vip")

    team = TeamFactory.create(name="North", key=f"north-{lead.pk}")
    rep = RepFactory.create(team=team, user__username=f"alice-{lead.pk}")
    item = QueueItemFactory.create(lead=lead, team=team)
    sales.item_claim(item_id=item.pk, user=rep.user)
    sales.item_act(
        item_id=item.pk,
        user=rep.user,
        kind="qualified",
        bant=sales.Bant(budget="20k approved", authority="the CTO", need="manual scoring", timeline="June"),
    )
    outcomes.recorder()(
        outcomes.ReportedOutcome(lead_id=lead.pk, kind="won", amount=Decimal("12500"), source="api:crm1")
    )
    model = TrainedModel.objects.get_or_create(number=1, defaults={"algorithm": "logistic", "fitted": b""})[0]
    LeadPrediction.objects.create(
        lead=lead,
        model=model,
        probability=0.874,
        reasons=[{"text": "+ visited pricing 3 times"}, {"text": "- student email domain"}],
        computed_at=START + timedelta(minutes=30),
    )
    GroupTransition.objects.create(
        lead=lead, kind="probability", direction="up", watch_percent=60, total_score=27, cause="prediction",
        occurred_at=START + timedelta(minutes=31),
    )  # fmt: skip
    return Story(lead, first, item)


def more_of_each(story: Story, n: int) -> None:
    """``n`` more events of every kind but interactions (``a_story`` makes those), all
    recent, so they are on the newest page with their related rows."""
    lead, now = story.lead, django_now()
    rule = RoutingRule.objects.create(key=f"more-{lead.pk}", name="More", trigger="enters_group")
    action = RoutingAction.objects.create(rule=rule, kind="add_tag", tag="more")
    rep = RepFactory.create(user__username=f"bob-{lead.pk}")
    for k in range(n):
        at = now - timedelta(minutes=k)
        demo = ScoringRuleFactory.create(name=f"More {lead.pk}-{k}")
        ScoreEntry.objects.create(
            lead=lead, dimension="engagement", delta=0, cause="revised", rule=demo, interaction=story.interaction,
            occurred_at=at, created_by=rep.user,
        )  # fmt: skip
        crossing = GroupTransition.objects.create(
            lead=lead, kind="score", to_group=ScoreGroup.objects.first(), total_score=27, cause="rule", occurred_at=at
        )
        ActionRun.objects.create(transition=crossing, action=action, outcome="tagged more")
        sequence = SequenceFactory.create()
        step = StepFactory.create(sequence=sequence, position=1)
        enrollment = Enrollment.objects.create(
            lead=lead, sequence=sequence, status="exited", exit_reason="manual", enrolled_at=at, ended_at=at
        )
        Delivery.objects.create(
            enrollment=enrollment, step=step, message_id=f"<more-{lead.pk}-{k}>", status="sent", created_at=at,
            updated_at=at,
        )  # fmt: skip
        item = QueueItemFactory.create(lead=lead, team=rep.team, owner=rep.user, status="lost", entered_at=at)
        Outcome.objects.create(item=item, lead=lead, kind="lost", reason="budget", total_score=27, user=rep.user, at=at)


def page_text(response: object) -> str:
    content = response.content.decode()  # type: ignore[attr-defined]
    return html.unescape(re.sub(r"<[^>]+>", " ", content))


@pytest.fixture
def carol() -> Client:
    client = Client()
    client.force_login(marketer(username="carol"))
    return client


def test_a_lead_with_every_kind_of_event_shows_each_with_its_text(carol: Client) -> None:
    story = a_story()

    response = carol.get(reverse("admin:scoring_lead_change", args=[story.lead.pk]))

    assert response.status_code == 200
    shown = response.context["timeline"]
    assert {event.source for event in shown.events} == {
        "interaction",
        "ledger",
        "transition",
        "enrollment",
        "enrollment_end",
        "delivery",
        "action_run",
        "queue_item",
        "outcome",
        "prediction",
    }
    text = " ".join(page_text(response).split())
    for expected in [
        "Interaction Form submission",
        "url: https://shop.example/pricing · campaign: spring-sale · form: demo-request",
        "+7 engagement from rule “Asked for a demo”",
        f"for interaction {story.interaction.pk} (form_submit)",
        "+20 engagement: Manual adjustment",
        "Group no group → Warm (score 7 → 27)",
        "Stage lead → customer",
        "Nurture Enrolled in “Welcome”",
        "Nurture Left “Welcome”",
        "Email “Welcome” step 1: Hello there",
        "Sent · 2 opens, 1 click",
        "Routing Rule “Tag VIPs”: add a tag",
        "tagged vip",
        "Sales queue Entered North's queue",
        "now won",
        "Sales Claimed",
        "Budget: 20k approved · Authority: the CTO · Need: manual scoring · Timeline: June",
        "Sales Won, amount 12,500.00",
        "reported by api:crm1",
        "Prediction Chance to convert: 87% (predictive model version 1)",
        "+ visited pricing 3 times · - student email domain",
        "Prediction Chance to convert rose to 60%",
        "Chance to convert: 87% (predictive model version 1,",
    ]:
        assert expected in text, expected
    # The editable fields come first, the story below the form.
    page = response.content.decode()
    assert page.index('name="email"') < page.index('id="timeline"')
    # Newest first.
    times = [event.at for event in shown.events]
    assert times == sorted(times, reverse=True)


def _queries(client: Client, lead: Lead, **query: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("admin:scoring_lead_change", args=[lead.pk]), query)
    assert response.status_code == 200
    return len(captured)


def test_the_page_reads_the_same_queries_for_a_short_or_a_long_story(carol: Client) -> None:
    short = a_story(email="short@example.com", interactions=1)
    long = a_story(email="long@example.com", interactions=80)
    more_of_each(long, 4)
    _queries(carol, short.lead)  # the session and permission caches alike
    newest = carol.get(reverse("admin:scoring_lead_change", args=[long.lead.pk])).context["timeline"].events
    assert len(newest) == 50
    assert all(sum(e.source == source for e in newest) >= 4 for source in {e.source for e in newest})

    assert _queries(carol, short.lead) == _queries(carol, long.lead)
    older = carol.get(reverse("admin:scoring_lead_change", args=[long.lead.pk])).context["timeline"].older
    assert older is not None
    assert _queries(carol, long.lead, older=older) == _queries(carol, short.lead)


def test_pages_of_50_link_to_older_and_newer_and_never_repeat_or_skip(carol: Client) -> None:
    lead = LeadFactory.create()
    # 130 events, many at the very same moment in different sources: ties are ordered too.
    for n in range(100):
        InteractionFactory.create(lead=lead, occurred_at=START + timedelta(minutes=n // 3))
    for _ in range(30):
        ScoreEntry.objects.create(lead=lead, dimension="fit", delta=1, cause="manual", occurred_at=START)
    ScoreEntry.objects.update(created_at=START + timedelta(minutes=5))
    url = reverse("admin:scoring_lead_change", args=[lead.pk])

    pages = []
    query: dict[str, str] = {}
    while True:
        page = carol.get(url, query).context["timeline"]
        pages.append(page)
        if page.older is None:
            break
        query = {"older": page.older}

    assert [len(page.events) for page in pages] == [50, 50, 30]
    seen = [event.key for page in pages for event in page.events]
    assert len(set(seen)) == 130
    assert seen == sorted(seen, reverse=True)
    assert pages[0].newer is None
    assert f"?older={pages[0].older}" in carol.get(url).content.decode()
    # Back from the second page: the first again, whole.
    back = carol.get(url, {"newer": pages[1].newer}).context["timeline"]
    assert [event.key for event in back.events] == [event.key for event in pages[0].events]
    # From the third page back: the second.
    back = carol.get(url, {"newer": pages[2].newer}).context["timeline"]
    assert [event.key for event in back.events] == [event.key for event in pages[1].events]


@pytest.mark.parametrize("token", ["", "nonsense", "1.x.2", "9" * 18 + ".ledger.1", "1.ledger." + "9" * 30, "²"])
def test_any_text_for_a_cursor_gives_a_page_never_an_error(carol: Client, token: str) -> None:
    lead = LeadFactory.create()
    InteractionFactory.create(lead=lead, occurred_at=START)
    url = reverse("admin:scoring_lead_change", args=[lead.pk])
    for name in ("older", "newer"):
        response = carol.get(url, {name: token})
        assert response.status_code == 200
        assert len(response.context["timeline"].events) in (0, 1)


def test_cursor_tokens_keep_the_exact_moment() -> None:
    at = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)
    cursor = timeline.Cursor(at, "ledger", 42)
    assert timeline.Cursor.parse(cursor.token) == cursor


def test_a_spanish_marketer_reads_the_lead_s_story_in_spanish() -> None:
    story = a_story()
    client = Client(headers={"accept-language": "es-CR,es;q=0.9"})
    client.force_login(marketer(username="lucia"))

    response = client.get(reverse("admin:scoring_lead_change", args=[story.lead.pk]))

    text = " ".join(page_text(response).split())
    for expected in [
        "Historia",
        "Interacción Envío de formulario",
        "+7 interacción por la regla “Asked for a demo”",
        "+20 interacción: Ajuste manual",
        "Grupo sin grupo → Warm (puntuación 7 → 27)",
        "Etapa lead → customer",
        "Nurturing Inscrito en “Welcome”",
        "Email “Welcome” paso 1: Hello there",
        "Enviado · 2 aperturas, 1 clic",
        "Enrutamiento Regla “Tag VIPs”: agregar una etiqueta",
        "Cola de ventas Entró a la cola de North",
        "Ventas Tomado",
        "Presupuesto: 20k approved · Autoridad: the CTO",
        "Predicción La probabilidad de conversión subió a 60%",
    ]:
        assert expected in text, expected
    for english in ["Interaction Form submission", "from rule", "Sales queue Entered", "Chance to convert"]:
        assert english not in text, english


def test_a_routing_rules_threshold_crossed_without_a_change_of_group_reads_as_such(carol: Client) -> None:
    # "Falls below 0" watches 0 and "rises to 20" watches 20: crossing one is a routing event
    # of its own, which is no move between groups ("no group → no group" said nothing).
    rule("score_falls_below", {"kind": "add_tag", "tag": "cold"}, threshold=0)
    rule("score_rises_to", {"kind": "add_tag", "tag": "keen"}, threshold=20)
    ScoreGroupFactory.create(key="warm", name="Warm", min_score=10)
    lead = LeadFactory.create()
    adjust(lead, -15)  # 0 → -15: below 0, in no group
    adjust(lead, 30)  # -15 → 15: into Warm (and across 0)
    adjust(lead, 10)  # 15 → 25: across 20, still in Warm

    text = " ".join(page_text(carol.get(reverse("admin:scoring_lead_change", args=[lead.pk]))).split())

    assert "no group → no group" not in text
    assert "Warm → Warm" not in text
    assert "Score 0 → -15 crossed a routing rule's threshold, in no group" in text
    assert "Group no group → Warm (score -15 → 15)" in text
    assert "Score 15 → 25 crossed a routing rule's threshold, still in Warm" in text
    spanish = Client(headers={"accept-language": "es"})
    spanish.force_login(User.objects.get(username="carol"))
    leido = " ".join(page_text(spanish.get(reverse("admin:scoring_lead_change", args=[lead.pk]))).split())
    assert "La puntuación pasó de 15 a 25 y cruzó el umbral de una regla de enrutamiento; sigue en Warm" in leido


@pytest.mark.django_db
def test_a_hand_adjustment_names_its_author_by_full_name_else_user_name() -> None:
    """As the sales queue and a lead's queue rows do: a user name such as aball2 tells a
    colleague reading the timeline little."""
    lead = LeadFactory.create()
    named = User.objects.create_user("aball2", first_name="Alice", last_name="Ball")
    plain = User.objects.create_user("bob")
    for user in (named, plain):
        services.lead_adjust_score(lead_id=lead.pk, dimension=pure.Dimension.FIT, delta=5, note="Met", user=user)
    details = [e.detail for e in timeline.lead_timeline(lead_id=lead.pk).events if e.source == "ledger"]
    assert sorted(details) == ["Met · by Alice Ball", "Met · by bob"]
