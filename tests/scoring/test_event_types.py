"""Event types: names made from Segment's, the model file's ``event_types`` (checked,
imported, exported, round-tripped), the warning about a rule no type feeds, and the
admin's list of every type with its counts, dates, rules and Segment names."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from scoring import event_types, model_file, services
from scoring.models import EventType, ScoringRule, SegmentEvent
from tests.factories import LeadFactory, ScoringRuleFactory, built_in_event_types

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)

# --- names (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Trial Started", "trial_started"),
        ("trial_started", "trial_started"),
        ("Sign-up  Completed!", "sign_up_completed"),
        ("Démo réservée", "demo_reservee"),
        ("  Invited Teammate (Admin) ", "invited_teammate_admin"),
        ("?!", None),
        ("注册", None),
    ],
)
def test_an_event_name_becomes_a_type_name(name: str, kind: str | None) -> None:
    assert event_types.type_from_name(name) == kind


@given(st.text(max_size=120))
def test_whatever_the_name_the_type_made_from_it_is_well_formed(name: str) -> None:
    kind = event_types.type_from_name(name)
    assert kind is None or event_types.type_name_problem(kind) is None


def test_the_mapping_wins_then_segments_names_then_the_slug() -> None:
    mapping = {"email opened": "newsletter_read"}
    assert event_types.track_type(" EMAIL Opened", mapping) == "newsletter_read"
    assert event_types.track_type("Email Link Clicked", mapping) == "email_click"
    assert event_types.track_type("Trial Started", mapping) == "trial_started"


# --- the model file ---------------------------------------------------------------------

FILE = """
leadflow_model: 1
event_types:
  - key: trial_started
    label: Trial started
    segment_events: [Trial Started, Trial Begun]
  - key: demo-booked
    label: Demo booked
  - key: email_open
    segment_events: [Newsletter Read]
score_groups:
  - {key: warm, name: Warm, min_score: 20}
rules:
  - key: trials
    name: Trials
    dimension: engagement
    points: 10
    interaction_types: [trial_started, demo-booked]
"""


def test_bad_event_types_are_refused_each_by_its_place() -> None:
    text = """
leadflow_model: 1
event_types:
  - {key: Trial Started}
  - {key: email_open, label: Opened}
  - {key: demo, segment_events: [Demo Booked, 7]}
  - {key: meeting, segment_events: [demo booked], colour: red}
  - {key: demo}
"""
    with pytest.raises(model_file.ModelFileError) as caught:
        model_file.load_text(text)
    assert caught.value.errors == [
        "event_types[0].key: 'Trial Started' is not a type name: use lowercase letters, digits, - and _, "
        "starting with a letter or digit, at most 40 characters",
        "event_types[1].label: email_open is built in, its label is 'email open'; leave label out",
        "event_types[2].segment_events[1]: must be an event name as Segment sends it, e.g. Trial Started",
        "event_types[3].colour: unknown key (allowed: key, label, segment_events)",
        "event_types[3].segment_events[0]: 'demo booked' is also given at event_types[2].segment_events[0] "
        "(case is ignored)",
        "event_types[4].key: 'demo' is also declared at event_types[2]",
    ]


@pytest.mark.django_db
def test_the_file_declares_types_maps_segment_names_and_round_trips() -> None:
    summary = services.scoring_model_import(spec=model_file.load_text(FILE))
    assert summary.warnings == ()
    assert summary.sections == ("Event types: 3 declared, 3 Segment event names mapped.",)
    declared = {t.key: (t.label, t.declared) for t in EventType.objects.filter(declared=True)}
    assert declared == {
        "trial_started": ("Trial started", True),
        "demo-booked": ("Demo booked", True),
        "email_open": ("", True),
    }
    assert dict(SegmentEvent.objects.values_list("name", "event_type__key")) == {
        "Trial Started": "trial_started",
        "Trial Begun": "trial_started",
        "Newsletter Read": "email_open",
    }
    exported = model_file.dump_text(services.scoring_model_export())

    def declared_in(text: str) -> dict[str, tuple[str, set[str]]]:
        return {t.key: (t.label, set(t.segment_events)) for t in model_file.load_text(text).event_types or ()}

    assert declared_in(exported) == declared_in(FILE)
    services.scoring_model_import(spec=model_file.load_text(exported))
    assert model_file.dump_text(services.scoring_model_export()) == exported


@pytest.mark.django_db
def test_a_type_left_out_of_the_file_is_no_longer_declared_but_keeps_its_counts() -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE))
    lead = LeadFactory.create()
    services.interaction_record(lead=lead, type="demo-booked", occurred_at=T0, idempotency_key="d-1")
    services.scoring_model_import(
        spec=model_file.load_text("leadflow_model: 1\nevent_types:\n  - {key: trial_started, label: Trials}\n")
    )
    rows = {
        t.key: (t.label, t.declared, t.seen_count)
        for t in EventType.objects.filter(key__in=["trial_started", "demo-booked"])
    }
    assert rows == {"trial_started": ("Trials", True, 0), "demo-booked": ("", False, 1)}
    assert not SegmentEvent.objects.exists()
    # A file holding only event types leaves the scoring model as it was.
    assert ScoringRule.objects.get(key="trials").active


@pytest.mark.django_db
def test_the_warning_of_a_type_never_seen_is_in_the_site_s_language(tmp_path: Path, settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"
    text = (
        FILE
        + "\n  - {key: replays, name: Replays, dimension: engagement, points: 2, interaction_types: [trail_started]}\n"
    )
    err = StringIO()
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")

    call_command("scoring_model_import", "--publish", str(path), stdout=StringIO(), stderr=err)

    assert err.getvalue().strip() == (
        f"{path}: aviso: rules[1].interaction_types: 'trail_started' no se ha visto ni declarado nunca "
        "(decláralo en event_types, o revisa cómo se escribe); la regla lo puntúa en cuanto llegue"
    )


@pytest.mark.django_db
def test_an_import_as_a_draft_warns_as_its_check_does(tmp_path: Path) -> None:
    text = (
        FILE
        + "\n  - {key: replays, name: Replays, dimension: engagement, points: 2, interaction_types: [trail_started]}\n"
    )
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    check, draft = StringIO(), StringIO()

    call_command("scoring_model_import", "--check", str(path), stdout=StringIO(), stderr=check)
    call_command("scoring_model_import", str(path), stdout=StringIO(), stderr=draft)

    assert "'trail_started' has never been seen nor declared" in check.getvalue()
    assert draft.getvalue() == check.getvalue()


@pytest.mark.django_db
def test_import_warns_of_a_rule_whose_type_was_never_seen_nor_declared_and_imports_it(tmp_path: Path) -> None:
    services.interaction_record(lead=LeadFactory.create(), type="webinar-replay", occurred_at=T0, idempotency_key="w-1")
    text = (
        FILE
        + """
  - key: replays
    name: Replays
    dimension: engagement
    points: 2
    interaction_types: [webinar-replay, trail_started, email_click]
"""
    )
    err = StringIO()
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    call_command("scoring_model_import", "--publish", str(path), stdout=StringIO(), stderr=err)
    assert err.getvalue().strip() == (
        f"{path}: warning: rules[1].interaction_types: 'trail_started' has never been seen nor declared "
        "(declare it under event_types, or check the spelling); the rule scores it once it comes"
    )
    assert ScoringRule.objects.get(key="replays").interaction_types == [
        "webinar-replay",
        "trail_started",
        "email_click",
    ]
    check = StringIO()
    call_command("scoring_model_import", "--publish", str(path), "--check", stdout=StringIO(), stderr=check)
    assert "'trail_started' has never been seen" in check.getvalue()


# --- the admin ------------------------------------------------------------------------


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def page(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _types(start: int, stop: int) -> None:
    lead = LeadFactory.create()
    for n in range(start, stop):
        kind = f"product-event-{n}"
        services.interaction_record(lead=lead, type=kind, occurred_at=T0, idempotency_key=f"p-{n}")
        ScoringRuleFactory.create(name=f"Rule for {kind}", interaction_types=[kind, "email_open"])
        SegmentEvent.objects.create(name=f"Product Event {n}", event_type=EventType.objects.get(key=kind))


@pytest.mark.django_db
def test_the_admin_lists_every_type_with_counts_dates_rules_and_segment_names(admin: Client) -> None:
    built_in_event_types()
    services.scoring_model_import(spec=model_file.load_text(FILE))
    lead = LeadFactory.create()
    for n, day in enumerate([3, 1, 7]):
        services.interaction_record(
            lead=lead, type="trial_started", occurred_at=T0.replace(day=day), idempotency_key=f"t-{n}"
        )
    ScoringRule.objects.create(
        key="old",
        name="Old trials",
        dimension="engagement",
        points=1,
        interaction_types=["trial_started"],
        active=False,
    )
    text = page(admin, reverse("admin:scoring_eventtype_changelist"))
    row = text[text.index(">trial_started<") :].split("</tr>")[0]
    for shown in ["Trial started", "declared", ">3<", "Nov. 1, 2026", "Nov. 7, 2026", "Trials, Old trials (inactive)"]:
        assert shown in row, shown
    assert "Trial Begun, Trial Started" in row
    built_in = text[text.index(">webinar<") :].split("</tr>")[0]
    assert "webinar attendance" in built_in
    assert "built in" in built_in


@pytest.mark.django_db
def test_the_admin_list_makes_the_same_queries_for_3_or_30_types(admin: Client) -> None:
    url = reverse("admin:scoring_eventtype_changelist")
    _types(0, 3)
    page(admin, url)
    with CaptureQueriesContext(connection) as few:
        page(admin, url)
    _types(3, 30)
    with CaptureQueriesContext(connection) as many:
        text = page(admin, url)
    assert "Rule for product-event-29" in text
    assert "Product Event 29" in text
    assert len(few) == len(many)


@pytest.mark.django_db
def test_a_rule_picks_its_types_from_those_built_in_declared_or_seen(admin: Client) -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE))
    services.interaction_record(lead=LeadFactory.create(), type="invited", occurred_at=T0, idempotency_key="i")
    EventType.objects.create(key="forgotten")  # neither declared nor seen (left out of a file)
    text = page(admin, reverse("admin:scoring_scoringrule_add"))
    for offered in ['value="trial_started"', "Trial started (trial_started)", 'value="invited"', 'value="webinar"']:
        assert offered in text
    assert 'value="forgotten"' not in text

    form = {
        "name": "Invites",
        "key": "invites",
        "dimension": "engagement",
        "points": "3",
        "match": "all",
        "active": "on",
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
    }
    refused = admin.post(reverse("admin:scoring_scoringrule_add"), {**form, "interaction_types": ["forgotten"]})
    assert refused.status_code == 200
    assert "Select a valid choice. forgotten is not one of the available choices." in html.unescape(
        refused.content.decode()
    )
    saved = admin.post(reverse("admin:scoring_scoringrule_add"), {**form, "interaction_types": ["invited"]})
    assert saved.status_code == 302
    assert ScoringRule.objects.get(key="invites").interaction_types == ["invited"]
    rules = page(admin, reverse("admin:scoring_scoringrule_changelist"))
    assert "+10 for each Demo booked or Trial started" in rules


@pytest.mark.django_db
def test_a_type_added_in_the_admin_is_declared_and_a_bad_name_is_refused_on_the_field(admin: Client) -> None:
    url = reverse("admin:scoring_eventtype_add")
    inline = {
        "segment_events-TOTAL_FORMS": "1",
        "segment_events-INITIAL_FORMS": "0",
        "segment_events-MIN_NUM_FORMS": "0",
        "segment_events-MAX_NUM_FORMS": "1000",
        "segment_events-0-name": "Demo Booked",
    }
    refused = admin.post(url, {"key": "Demo Booked", "label": "Demo", **inline})
    assert refused.status_code == 200
    assert "'Demo Booked' is not a type name" in html.unescape(refused.content.decode())
    assert admin.post(url, {"key": "demo-booked", "label": "Demo booked", **inline}).status_code == 302
    row = EventType.objects.get(key="demo-booked")
    assert (row.label, row.declared, row.seen_count) == ("Demo booked", True, 0)
    assert list(row.segment_events.values_list("name", flat=True)) == ["Demo Booked"]
    built_in = EventType.objects.get(key="email_open")
    change = page(admin, reverse("admin:scoring_eventtype_change", args=[built_in.pk]))
    assert 'name="label"' not in change  # a built-in type's label is Leadflow's


@pytest.mark.django_db
def test_interactions_filter_by_type_from_the_counted_list_without_grouping_them(admin: Client) -> None:
    lead = LeadFactory.create()
    services.interaction_record(lead=lead, type="trial_started", occurred_at=T0, idempotency_key="t-1")
    services.interaction_record(lead=lead, type="webinar", occurred_at=T0, idempotency_key="w-1")
    url = reverse("admin:scoring_interaction_changelist")
    with CaptureQueriesContext(connection) as queries:
        listed = page(admin, url)
    assert "?type=trial_started" in listed
    distinct = [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"] and '"type"' in q["sql"]]
    assert distinct == []
    filtered = page(admin, url, type="trial_started")
    assert '<td class="field-type">trial_started</td>' in filtered
    assert '<td class="field-type">webinar</td>' not in filtered
