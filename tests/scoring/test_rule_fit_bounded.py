"""A lead's fit is a database integer: a fit rule saved in the admin, on the live model or
a draft, whose scorecard's active fit rules may then add up past it is refused on its
points, as the model file's are (:func:`scoring.score_bounds.fit_past_columns`), instead
of being kept and a lead meeting them all being set aside by its scoring on PostgreSQL."""

from __future__ import annotations

import html
from functools import partial
from typing import Any

import pytest
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse

from scoring import model_file, services
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN
from scoring.models import Lead, Scorecard, ScoringRule, SetAside
from scoring.services import versions
from tests.conftest import FirstCheckWaits, at_once, wait_for
from tests.factories import LeadFactory, fit_rule
from tests.scoring.test_admin_pages import rule_form

pytestmark = pytest.mark.django_db

LIMA = ("city", "equals", "Lima")
ADD = reverse("admin:scoring_scoringrule_add")


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def said(response: HttpResponseBase) -> str:
    return html.unescape(getattr(response, "content", b"").decode())


def points_refused(response: HttpResponseBase) -> str:
    """The refusal on the points field (the only field refused)."""
    assert response.status_code == 200, said(response)[:2000]
    errors = response.context["adminform"].form.errors  # type: ignore[attr-defined]
    assert list(errors) == ["points"]
    return " ".join(errors["points"])


def test_a_live_fit_rule_taking_its_scorecards_fit_rules_past_the_column_is_refused(admin: Client) -> None:
    fit_rule(WHOLE_MAX, *LIMA, key="lima")

    above = points_refused(admin.post(ADD, rule_form(points="5", conditions=[LIMA])))

    assert f"could give a lead up to {WHOLE_MAX + 5} points, past the {WHOLE_MAX} a score can hold" in above
    assert list(ScoringRule.objects.values_list("key", flat=True)) == ["lima"]
    fit_rule(WHOLE_MIN, *LIMA, key="low")
    below = points_refused(admin.post(ADD, rule_form(points="-1", conditions=[LIMA])))
    assert f"could take a lead down to {WHOLE_MIN - 1} points, past the {WHOLE_MIN}" in below
    assert ScoringRule.objects.count() == 2


def test_only_the_active_fit_rules_of_the_same_scorecard_count(admin: Client) -> None:
    fit_rule(WHOLE_MAX, *LIMA, key="lima")
    books = Scorecard.objects.create(key="books", name="Books")

    # Engagement adds up with each interaction, not rule by rule: it is not bounded here.
    engagement = rule_form(key="opens", dimension="engagement", points=str(WHOLE_MAX), interaction_types=["email_open"])
    assert admin.post(ADD, engagement).status_code == 302
    on_books = rule_form(key="books-lima", points=str(WHOLE_MAX), scorecard=str(books.pk), conditions=[LIMA])
    assert admin.post(ADD, on_books).status_code == 302
    resting = admin.post(ADD, rule_form(key="resting", points=str(WHOLE_MAX), active="", conditions=[LIMA]))
    assert resting.status_code == 302

    # Activating the inactive one is refused alike.
    rule = ScoringRule.objects.get(key="resting")
    change = reverse("admin:scoring_scoringrule_change", args=[rule.pk])
    assert "up to" in points_refused(
        admin.post(change, rule_form(key="resting", points=str(WHOLE_MAX), conditions=[LIMA]))
    )
    assert not ScoringRule.objects.get(pk=rule.pk).active
    # A rule changed keeps counting once, as it is now: lowering the first one's points is kept.
    lima = ScoringRule.objects.get(key="lima")
    lower = rule_form(key="lima", points=str(WHOLE_MAX - 1), conditions=[LIMA])
    response = admin.post(reverse("admin:scoring_scoringrule_change", args=[lima.pk]), lower)
    assert response.status_code == 302, said(response)[:2000]


def test_a_drafts_fit_rules_are_refused_alike_counting_the_drafts_own(admin: Client) -> None:
    fit_rule(WHOLE_MAX, *LIMA, key="lima")
    draft = versions.draft_create(user=None)
    add = reverse("admin:scoring_draftscoringrule_add") + f"?version={draft.pk}"

    assert "up to" in points_refused(admin.post(add, rule_form(points="1", conditions=[LIMA])))

    # The draft's copy lowered, the live rule does not count against it.
    copy = ScoringRule.all_versions.get(version=draft, key="lima")
    change = reverse("admin:scoring_draftscoringrule_change", args=[copy.pk])
    lowered = admin.post(change, rule_form(key="lima", points="1", conditions=[LIMA]))
    assert lowered.status_code == 302, said(lowered)[:2000]
    assert admin.post(add, rule_form(points=str(WHOLE_MAX - 1), conditions=[LIMA])).status_code == 302
    assert "up to" in points_refused(admin.post(add, rule_form(key="more", points="1", conditions=[LIMA])))
    assert ScoringRule.all_versions.filter(version=draft).count() == 2


def test_a_spanish_marketer_reads_the_refusal_in_spanish(admin_user: Any) -> None:
    fit_rule(WHOLE_MAX, *LIMA, key="lima")
    client = Client(HTTP_HOST="localhost", headers={"accept-language": "es-CR,es;q=0.9"})
    client.force_login(admin_user)

    refused = points_refused(client.post(ADD, rule_form(points="5", conditions=[LIMA])))

    assert refused == (
        "Las reglas de perfil activas de su tarjeta de puntuación, con esta, podrían dar juntas a un lead "
        f"hasta {WHOLE_MAX + 5} puntos, más de los {WHOLE_MAX} que caben en una puntuación; baja los puntos."
    )


def test_a_lead_meeting_every_rule_kept_is_scored_on_postgresql(postgres: None, admin: Client) -> None:
    # Before, the second rule was kept, and the lead's fit, past the column, was set aside.
    fit_rule(WHOLE_MAX - 1, *LIMA, key="lima")
    admin.post(ADD, rule_form(points="5", conditions=[LIMA]))
    lead = LeadFactory.create(city="Lima", fit_pending=True)

    services.leads_rescore_fit_pending()

    assert not SetAside.objects.exists()
    assert Lead.objects.get(pk=lead.pk).fit_score == WHOLE_MAX - 1


def activate(client: Client, rules: list[ScoringRule]) -> list[str]:
    response = client.post(
        reverse("admin:scoring_scoringrule_changelist"),
        {"action": "activate", "_selected_action": [rule.pk for rule in rules]},
        follow=True,
    )
    return [str(message) for message in response.context["messages"]]


def test_activating_rules_that_take_their_scorecard_past_the_column_activates_none(
    admin: Client, admin_user: Any
) -> None:
    fit_rule(WHOLE_MAX, *LIMA, key="lima")
    resting = [fit_rule(5, *LIMA, key="five", active=False), fit_rule(-5, *LIMA, key="minus", active=False)]

    said = activate(admin, resting)

    assert len(said) == 1
    assert said[0].startswith("Nothing was activated. ")
    assert f"up to {WHOLE_MAX + 5} points, past the {WHOLE_MAX}" in said[0]
    assert list(ScoringRule.objects.filter(active=True).values_list("key", flat=True)) == ["lima"]
    spanish = Client(HTTP_HOST="localhost", headers={"accept-language": "es-CR,es;q=0.9"})
    spanish.force_login(admin_user)
    assert activate(spanish, resting)[0].startswith("No se activó nada. R")
    assert f"podrían dar juntas a un lead hasta {WHOLE_MAX + 5} puntos" in activate(spanish, resting)[0]
    assert ScoringRule.objects.filter(active=True).count() == 1

    # Activated with rules that keep them within, they are.
    ScoringRule.objects.filter(key="lima").update(points=WHOLE_MAX - 5)
    assert activate(admin, resting) == ["2 rules activated. Fit scores follow when leads are rescored."]
    assert ScoringRule.objects.filter(active=True).count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_draft", [False, True], ids=["live", "draft"])
def test_two_fit_rules_added_at_once_cannot_together_pass_the_column(
    postgres: None, admin_user: Any, first_check_waits: FirstCheckWaits, in_draft: bool
) -> None:
    # Each fits beside the rule kept; both together do not.
    fit_rule(WHOLE_MAX - 10, *LIMA, key="lima")
    draft = versions.draft_create(user=None) if in_draft else None
    add = reverse("admin:scoring_draftscoringrule_add") + f"?version={draft.pk}" if draft else ADD
    clients = [Client(HTTP_HOST="localhost") for _ in range(2)]
    for client in clients:
        client.force_login(admin_user)

    def post(client: Client, key: str) -> int:
        return int(client.post(add, rule_form(key=key, points="6", conditions=[LIMA])).status_code)

    first_check_waits.start(ScoringRule)
    statuses = at_once(partial(post, clients[0], "one"), partial(post, clients[1], "two"))

    assert sorted(statuses) == [200, 302]  # the second refused on its points, once the first is kept
    points = ScoringRule.all_versions.filter(version=draft, active=True).values_list("points", flat=True)
    assert sorted(points) == [6, WHOLE_MAX - 10]


@pytest.mark.django_db(transaction=True)
def test_a_fit_rule_saved_while_a_model_file_is_imported_is_one_the_file_leaves_out(
    postgres: None, admin_user: Any, first_check_waits: FirstCheckWaits
) -> None:
    # The file's rule fits alone, and the rule added alone; the import deactivates a rule it
    # leaves out only when it sees it: a rule checked against the rules of before the file
    # is kept only if the import then reads it.
    spec = model_file.load_text(
        "leadflow_model: 1\nscore_groups:\n  - {key: warm, name: Warm, min_score: 10}\n"
        f"rules:\n  - {{key: lima, name: Lima, dimension: fit, points: {WHOLE_MAX - 10},"
        " conditions: [{field: city, operator: equals, value: Lima}]}\n"
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)

    def add() -> int:
        return int(client.post(ADD, rule_form(points="11", conditions=[LIMA])).status_code)

    def import_file() -> None:
        # Once the rule added was checked against the rules of before the file.
        wait_for(first_check_waits.checked.is_set, message="the rule added to be checked")
        services.scoring_model_import(spec=spec)
        first_check_waits.went_on.set()

    first_check_waits.start(ScoringRule)
    status, _ = at_once(add, import_file)

    assert status == 302
    assert list(ScoringRule.objects.filter(active=True).values_list("points", flat=True)) == [WHOLE_MAX - 10]
    assert not ScoringRule.objects.get(key="toy-shops").active
