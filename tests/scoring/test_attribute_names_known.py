"""The custom attributes' names Leadflow knows, where each came from, and the admin's page
listing them: a marketer whose page sends a name that is left out sees why there, and
frees a name a page brought by deleting it. The names a fit rule tests (live, in a draft,
imported) and those a tracked form writes are known once the rule or the form is saved."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from scoring import model_file
from scoring.models import AttributeName, Lead, ScoringRule
from scoring.services import versions
from tests.factories import fit_rule
from tests.intake.test_page_attribute_names import identify
from tests.intake.test_public_keys import segment_client, send
from tests.routing.factories import UserFactory, marketer

pytestmark = pytest.mark.django_db

Origin = AttributeName.Origin
CONDITIONS = {
    "conditions-TOTAL_FORMS": "1",
    "conditions-INITIAL_FORMS": "0",
    "conditions-MIN_NUM_FORMS": "0",
    "conditions-MAX_NUM_FORMS": "1000",
    "conditions-0-position": "0",
    "conditions-0-field": "attributes.plan",
    "conditions-0-operator": "equals",
    "conditions-0-value_text": "pro",
}
RULE = {"name": "Pro plan", "key": "pro-plan", "description": "", "dimension": "fit", "points": "5", "match": "all"}
MODEL = """
leadflow_model: 1
rules:
  - key: goal
    name: Buys gifts
    dimension: fit
    points: 5
    conditions:
      - {field: attributes.goal, operator: equals, value: gifts}
      - {field: city, operator: equals, value: Lima}
  - key: opens
    name: Opens
    dimension: engagement
    points: 1
    interaction_types: [email_open]
    conditions:
      - {field: attributes.campaign, operator: equals, value: x}
"""


def origins() -> dict[str, str]:
    return dict(AttributeName.objects.values_list("name", "origin"))


def page_writes(names: dict[str, object], email: str = "ana@example.com") -> dict[str, object]:
    """What a key used in web pages writes of ``names`` on a new lead's attributes."""
    send(segment_client(public=True), "identify", identify(1, email, names))
    return dict(Lead.objects.get(email=email).attributes)


@pytest.fixture
def no_room(settings: Any) -> None:
    settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = 0


def signed_in(user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def test_a_draft_imported_records_the_names_its_fit_rules_test(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # recorded once the draft is saved
        versions.draft_import(spec=model_file.load_text(MODEL), user=None)

    # Not an engagement rule's: it tests an interaction's property, not the lead's.
    assert origins() == {"goal": Origin.RULE}


def test_a_model_imported_live_records_the_names_its_fit_rules_test(
    tmp_path: Any, django_capture_on_commit_callbacks: Any
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(MODEL)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("scoring_model_import", "--publish", str(path))

    assert origins() == {"goal": Origin.RULE}


@pytest.mark.parametrize("draft", [False, True])
def test_a_rule_saved_in_the_admin_records_the_names_it_tests(
    draft: bool, django_capture_on_commit_callbacks: Any
) -> None:
    url = reverse("admin:scoring_scoringrule_add")
    if draft:
        url = reverse("admin:scoring_draftscoringrule_add") + f"?version={versions.draft_create(user=None).pk}"

    with django_capture_on_commit_callbacks(execute=True):
        saved = signed_in(marketer()).post(url, {**RULE, **CONDITIONS})

    assert saved.status_code == 302
    assert ScoringRule.all_versions.filter(key="pro-plan").exists()
    assert origins() == {"plan": Origin.RULE}


def test_a_tracked_form_saved_in_the_admin_makes_its_attributes_known_to_pages(
    no_room: None, django_capture_on_commit_callbacks: Any
) -> None:
    """The form's own posts write them, but a page's identify sent before the first post
    was left out of them."""
    form = {"name": "Contact", "key": "contact", "active": "on", "lead_fields": "company, attributes.plan"}
    with django_capture_on_commit_callbacks(execute=True):
        saved = signed_in(marketer()).post(reverse("admin:intake_trackedform_add"), form)

    assert saved.status_code == 302
    assert origins() == {"plan": Origin.FORM}
    assert page_writes({"plan": "pro", "made_up": 1}) == {"plan": "pro"}


def test_each_writer_records_where_a_name_came_from(settings: Any) -> None:
    settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = 1
    send(segment_client(public=False), "identify", identify(1, "crm@example.com", {"tier": "gold"}))
    page_writes({"colour": "red", "size": "xl"})
    fit_rule(5, "attributes.size", "equals", "xl")

    # A name keeps where it first came from: the rule does not make "colour" a rule's.
    assert origins() == {"tier": Origin.WRITER, "colour": Origin.PAGE}


def test_the_admin_lists_the_names_with_where_they_came_from_and_finds_one(settings: Any) -> None:
    settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = 2
    send(segment_client(public=False), "identify", identify(1, "crm@example.com", {"tier": "gold"}))
    page_writes({"colour": "red"})
    client = signed_in(marketer())
    url = reverse("admin:scoring_attributename_changelist")

    shown = html.unescape(client.get(url).content.decode())
    found = html.unescape(client.get(url, {"q": "colo"}).content.decode())

    assert "Brought by a key used in web pages" in shown
    assert "Written by a trusted sender" in shown
    assert "Names brought by keys used in web pages: 1 of 2." in shown
    assert ">colour<" in found
    assert ">tier<" not in found


def test_deleting_a_name_a_page_brought_lets_a_page_bring_another(settings: Any) -> None:
    settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = 1
    assert page_writes({"plann": "typo"}, "one@example.com") == {"plann": "typo"}
    assert page_writes({"plan": "pro"}, "two@example.com") == {}
    client = signed_in(marketer())

    confirm = client.get(reverse("admin:scoring_attributename_delete", args=["plann"]))
    # Deleting from the list asks as the name's own page does.
    action = {"action": "delete_selected", "_selected_action": ["plann"]}
    confirm_selected = client.post(reverse("admin:scoring_attributename_changelist"), action)
    gone = client.post(reverse("admin:scoring_attributename_delete", args=["plann"]), {"post": "yes"})

    assert "frees its place" in html.unescape(confirm.content.decode())
    assert "frees its place" in html.unescape(confirm_selected.content.decode())
    assert gone["Location"] == reverse("admin:scoring_attributename_changelist")
    assert page_writes({"plan": "pro"}, "three@example.com") == {"plan": "pro"}
    # The leads keep what they hold under the name deleted.
    assert Lead.objects.get(email="one@example.com").attributes == {"plann": "typo"}


@pytest.mark.parametrize(
    ("group", "allowed"),
    [
        ("Marketing", {"view_attributename", "delete_attributename"}),
        ("Sales managers", {"view_attributename"}),
        ("Sales", set()),
    ],
)
def test_marketing_reads_and_deletes_the_names_and_sales_managers_read_them(group: str, allowed: set[str]) -> None:
    codenames = set(
        Group.objects.get(name=group)
        .permissions.filter(content_type__model="attributename")
        .values_list("codename", flat=True)
    )
    assert codenames == allowed
    AttributeName.objects.create(name="plan")
    url = reverse("admin:scoring_attributename_change", args=["plan"])
    assert signed_in(marketer()).post(url, {"name": "other"}).status_code == 403  # names are not typed in
    assert signed_in(UserFactory.create(is_staff=True)).get(url).status_code == 403


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_what_pages_brought_and_records_what_rules_test() -> None:
    before, after = ("scoring", "0058_attribute_names"), ("scoring", "0059_attribute_name_origin")
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([before])
        old = executor.loader.project_state([before]).apps
        old.get_model("scoring", "AttributeName").objects.create(name="colour", from_a_page=True)
        old.get_model("scoring", "AttributeName").objects.create(name="tier", from_a_page=False)
        rule = old.get_model("scoring", "ScoringRule").objects.create(key="r", name="R", dimension="fit", points=1)
        old.get_model("scoring", "RuleCondition").objects.create(rule=rule, field="attributes.goal", operator="is_set")
        old.get_model("scoring", "RuleCondition").objects.create(rule=rule, field="attributes.tier", operator="is_set")
        # A version published earlier keeps its rules as history: they test nothing now.
        retired = old.get_model("scoring", "ModelVersion").objects.create(number=1, status="retired")
        kept = old.get_model("scoring", "ScoringRule").objects.create(
            key="r", name="R", dimension="fit", points=1, version=retired
        )
        old.get_model("scoring", "RuleCondition").objects.create(rule=kept, field="attributes.gone", operator="is_set")

        MigrationExecutor(connection).migrate([after])

        assert origins() == {"colour": Origin.PAGE, "tier": Origin.EARLIER, "goal": Origin.RULE}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_tracked_forms_saved_before_make_their_attributes_known() -> None:
    before = [("intake", "0007_tracked_form_fills_blanks"), ("scoring", "0059_attribute_name_origin")]
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        forms = old.get_model("intake", "TrackedForm")
        forms.objects.create(key="contact", name="Contact", lead_fields=["company", "attributes.plan"])
        forms.objects.create(key="demo", name="Demo", lead_fields=["attributes.plan", "attributes.seats"])
        old.get_model("scoring", "AttributeName").objects.create(name="seats", origin="writer")

        MigrationExecutor(connection).migrate([("intake", "0008_tracked_form_attribute_names")])

        # A name known before keeps where it came from first.
        assert origins() == {"plan": Origin.FORM, "seats": Origin.WRITER}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
