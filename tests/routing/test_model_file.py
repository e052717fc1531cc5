"""Teams and routing rules in the model file: the toy store end to end, round trips,
broken files rejected whole with every problem located, removed rules deactivated."""

from __future__ import annotations

import importlib
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nurture.models import Enrollment, Sequence
from routing import services
from routing.model_file import RoutingSpec
from routing.models import ActionRun, Notification, QueueItem, RoutingAction, RoutingRule, Team
from scoring import model_file
from scoring import services as scoring
from scoring.models import GroupTransition, Lead, ModelVersion, PredictiveSettings, ScoreGroup
from scoring.rules import Dimension
from tests.factories import LeadFactory
from tests.routing.factories import RepFactory, UserFactory, marketer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TOY_STORE = [EXAMPLES / "toy_store.yaml", EXAMPLES / "toy_store_nurture.yaml", EXAMPLES / "toy_store_routing.yaml"]


def toy_store_import() -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE[0]))
    call_command("nurture_sequences_import", str(TOY_STORE[1]))
    call_command("scoring_model_import", "--publish", str(TOY_STORE[2]))


def routing_of(spec: model_file.ModelSpec) -> RoutingSpec:
    section = spec.sections["routing"]
    assert isinstance(section, RoutingSpec)
    return section


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def adjust(lead: Lead, delta: int) -> None:
    scoring.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=delta, note="test")
    services.transitions_route()


def enrolled(lead: Lead) -> set[str]:
    return set(
        Enrollment.objects.filter(lead=lead, status__in=["active", "paused"]).values_list("sequence__key", flat=True)
    )


@pytest.mark.django_db
def test_the_toy_store_routes_a_lead_through_its_groups_and_back(capsys: pytest.CaptureFixture[str]) -> None:
    toy_store_import()
    out = capsys.readouterr().out
    assert "Teams: 1 created" in out
    assert "Routing rules: 6 created" in out
    reps = [RepFactory.create(team=Team.objects.get(key="sales"), user=UserFactory.create(username=n)) for n in "ab"]
    lead = LeadFactory.create()

    adjust(lead, 45)  # enters Nurture
    assert enrolled(lead) == {"nurture"}
    adjust(lead, 20)  # 65: Frequent
    assert enrolled(lead) == {"frequent"}

    adjust(lead, 20)  # 85: Preferential, to the personal shoppers' queue with an owner by round robin
    item = QueueItem.objects.get(lead=lead)
    lead.refresh_from_db()
    assert (item.team.key, item.status, item.owner_id) == ("sales", "open", reps[0].user_id)
    assert lead.owner_id == reps[0].user_id
    assert lead.lifecycle_stage == "mql"
    assert lead.attributes["tags"] == ["vip"]
    assert enrolled(lead) == {"preferential"}
    assert Notification.objects.get(lead=lead).to == ["sales@toys.example"]
    second = LeadFactory.create()
    adjust(second, 90)
    assert QueueItem.objects.get(lead=second).owner_id == reps[1].user_id

    adjust(lead, -12)  # 73: below 75, decayed out of Preferential into Frequent, still owned
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "lead"
    assert enrolled(lead) == {"frequent"}

    # Sales turns it down: long-term nurture.
    scoring.lead_events_record(lead_ids=[lead.pk], kind=GroupTransition.Kind.DISQUALIFIED, cause="rejected")
    services.transitions_route()
    assert enrolled(lead) == {"long-term"}
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_nightly_decay_takes_a_preferential_lead_back_to_nurture_through_routing() -> None:
    """The toy store decays 2 points a day after 14 quiet days; Preferential is entered at
    80 and left below 75. Decay's crossings are routed like any other, once."""
    toy_store_import()
    RepFactory.create(team=Team.objects.get(key="sales"), user=UserFactory.create(username="ana"))
    lead = LeadFactory.create()
    adjust(lead, 85)
    assert enrolled(lead) == {"preferential"}
    start = timezone.localdate()

    scoring.leads_decay(today=start + timedelta(days=17))  # 85 - 3 * 2 = 79: inside the hysteresis
    services.transitions_route()
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.score_group.key if lead.score_group else None) == (79, "preferential")
    assert enrolled(lead) == {"preferential"}

    scoring.leads_decay(today=start + timedelta(days=20))  # 85 - 6 * 2 = 73: leaves Preferential
    routed = services.transitions_route()
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.score_group.key if lead.score_group else None) == (73, "frequent")
    event = GroupTransition.objects.filter(lead=lead, cause="decay").get()
    assert (event.direction, event.previous_total, event.total_score) == ("down", 79, 73)
    assert lead.lifecycle_stage == "lead"  # was mql: back to marketing
    assert enrolled(lead) == {"frequent"}
    assert QueueItem.objects.get(lead=lead).owner is not None  # the rep keeps it

    # The same night again, and routing again: nothing more happens.
    runs = ActionRun.objects.count()
    assert scoring.leads_decay(today=start + timedelta(days=20)).leads == 0
    assert services.transitions_route() == 0
    assert ActionRun.objects.count() == runs
    assert routed >= 2  # the decay crossing and the change of stage it caused


@pytest.mark.django_db
def test_a_lead_sales_has_qualified_stays_out_of_marketing_when_it_cools_down() -> None:
    toy_store_import()
    lead = LeadFactory.create()
    adjust(lead, 85)
    scoring.lead_events_record(lead_ids=[lead.pk], kind=GroupTransition.Kind.QUALIFIED, cause="sales")
    services.transitions_route()
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "sql"
    adjust(lead, -15)  # 70: Frequent, but sales is working it
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "sql"
    assert not enrolled(lead) & {"nurture", "frequent"}  # (the VIP sequence ends itself: its goal is the group)


@pytest.mark.django_db
def test_export_then_import_gives_the_same_routing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toy_store_import()
    original = routing_of(model_file.load_text(TOY_STORE[2].read_text()))
    exported_text = model_file.dump_text(scoring.scoring_model_export())
    exported = model_file.load_text(exported_text)
    assert routing_of(exported) == original
    assert [g.key for g in exported.groups] == ["nurture", "frequent", "preferential"]
    # The whole export imports again unchanged, scoring part and all.
    scoring.scoring_model_import(spec=exported)
    assert model_file.dump_text(scoring.scoring_model_export()) == exported_text

    # A webhook's secret comes from the environment; export names no variable and keeps it on import.
    monkeypatch.setenv("TOY_CRM_SECRET", "s3cret")
    text = (
        TOY_STORE[2]
        .read_text()
        .replace(
            "      - {kind: set_stage, stage: sql}",
            "      - {kind: set_stage, stage: sql}\n"
            "      - {kind: webhook, url: 'https://crm.example/hook', secret_env: TOY_CRM_SECRET}",
        )
    )
    call_command("scoring_model_import", "--publish", str(write(tmp_path, text)))
    assert RoutingAction.objects.get(kind="webhook").secret == "s3cret"
    exported_text = model_file.dump_text(scoring.scoring_model_export())
    assert "s3cret" not in exported_text
    assert "secret_env" not in exported_text
    monkeypatch.delenv("TOY_CRM_SECRET")
    scoring.scoring_model_import(spec=model_file.load_text(exported_text))
    assert RoutingAction.objects.get(kind="webhook").secret == "s3cret"
    assert model_file.dump_text(scoring.scoring_model_export()) == exported_text


BROKEN_FORM = """\
leadflow_model: 1
teams:
  - {key: sales, name: Sales, assignment: whoever, sla_hours: -1, feedback_days: 0}
  - {key: sales, name: Again}
routing:
  - key: a
    name: Unknown trigger
    trigger: enters_grop
    group: nurture
    actions: [{kind: enrol, sequence: nurture}]
  - key: a
    name: Bad condition and a secret in the file
    trigger: qualified
    colour: blue
    conditions: [{field: industy, operator: equals, value: Toys}, {field: company_size, operator: gt, value: big}]
    actions:
      - {kind: webhook, url: 'https://crm.example/hook', secret: plain}
      - {kind: set_stage, stage: hot}
"""

BROKEN_REFERENCES = """\
leadflow_model: 1
score_groups:
  - {key: nurture, name: Renamed, min_score: 40}
  - {key: frequent, name: Frequent, min_score: 60}
  - {key: preferential, name: Preferential, min_score: 80}
rules: []
teams:
  - {key: inside-sales, name: Inside sales, email: not-an-email}
routing:
  - key: a
    name: Names what does not exist
    trigger: enters_group
    group: vip
    actions:
      - {kind: enroll, sequence: nurture-long-term}
      - {kind: route_to_queue, team: nobody}
      - {kind: assign_owner, user: ghost}
      - {kind: webhook, url: 'https://crm.example/hook', secret_env: LEADFLOW_TEST_UNSET_SECRET}
  - key: b
    name: Misses what its trigger and actions need
    trigger: score_rises_to
    actions:
      - {kind: route_to_queue}
      - {kind: webhook, url: 'https://crm.example/hook'}
"""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BROKEN_FORM,
            [
                "teams[0].assignment: 'whoever' is not one of round_robin, territory, queue",
                "teams[0].sla_hours: must be 0 or more",
                "teams[0].feedback_days: must be 1 or more (leave it out for no deadline)",
                "teams[1].key: 'sales' is also the key of teams[0]",
                "routing[0].trigger: 'enters_grop' is not one of enters_group",
                "routing[0].actions[0].kind: 'enrol' is not one of enroll",
                "routing[1].key: 'a' is also the key of routing[0]",
                "routing[1].colour: unknown key",
                "routing[1].conditions[0].field: Unknown lead field 'industy'",
                "routing[1].conditions[1].value: 'gt' needs a number",
                "routing[1].actions[0].secret: secrets never go in the file",
                "routing[1].actions[1].stage: 'hot' is not one of subscriber",
            ],
        ),
        (
            BROKEN_REFERENCES,
            [
                "teams[0].email: Enter a valid email address.",
                "routing[0].group: no score group with key 'vip' (known: frequent, nurture, preferential)",
                "routing[0].actions[0].sequence: no sequence with key 'nurture-long-term' (known: frequent, long-term,",
                "routing[0].actions[1].team: no team with key 'nobody' (known: inside-sales, sales)",
                "routing[0].actions[2].user: no user 'ghost'",
                "routing[0].actions[3].secret_env: the environment variable LEADFLOW_TEST_UNSET_SECRET is not set",
                "routing[1].threshold: Give the score this trigger watches.",
                "routing[1].actions[0].team: Choose the team whose queue receives the lead.",
                "routing[1].actions[1].secret_env: Give a secret",
            ],
        ),
    ],
    ids=["form", "references"],
)
def test_a_broken_file_reports_every_problem_by_place_and_changes_nothing(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    toy_store_import()
    before = model_file.dump_text(scoring.scoring_model_export())
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, text)))
    message = str(raised.value)
    assert "nothing was imported" in message
    for problem in expected:
        assert problem in message
    assert message.count("\n") == len(expected)  # one line each, nothing else
    # Not even the file's valid parts (its score groups, its team) were kept.
    assert model_file.dump_text(scoring.scoring_model_export()) == before
    assert ScoreGroup.objects.get(key="nurture").name == "Nurture"
    assert not Team.objects.filter(key="inside-sales").exists()


@pytest.mark.django_db
def test_the_file_s_references_to_what_does_not_exist_are_told_in_the_site_s_language(
    tmp_path: Path, settings: Any
) -> None:
    settings.LANGUAGE_CODE = "es"
    toy_store_import()
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, BROKEN_REFERENCES)))
    message = str(raised.value)
    for problem in [
        "problema(s); no se importó nada:",
        "routing[0].group: no hay ningún grupo de puntuación con la clave 'vip' (conocidos: frequent, nurture,",
        "routing[0].actions[0].sequence: no hay ninguna secuencia con la clave 'nurture-long-term' (conocidas:",
        "routing[0].actions[1].team: no hay ningún equipo con la clave 'nobody' (conocidos: inside-sales, sales)",
        "routing[0].actions[2].user: no hay ningún usuario 'ghost'",
        "routing[0].actions[3].secret_env: la variable de entorno LEADFLOW_TEST_UNSET_SECRET no está definida",
    ]:
        assert problem in message
    assert "no score group" not in message
    groups_only = "leadflow_model: 1\nscore_groups:\n  - {key: nurture, name: Nurture, min_score: 40}\nrules: []\n"
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, groups_only)))
    assert (
        "score_groups: frequent no está en el archivo, pero lo usa regla de enrutamiento "
        "'Entering Frequent moves to the frequent sequence'" in str(raised.value)
    )


@pytest.mark.django_db
def test_a_group_routing_still_watches_is_not_deleted(tmp_path: Path) -> None:
    toy_store_import()
    text = "leadflow_model: 1\nscore_groups:\n  - {key: nurture, name: Nurture, min_score: 40}\nrules: []\n"
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, text)))
    assert (
        # Each row names the groups it uses, not every group left out.
        "score_groups: frequent not in the file, but routing rule "
        "'Entering Frequent moves to the frequent sequence' uses it" in str(raised.value)
    )
    assert ScoreGroup.objects.count() == 3


@pytest.mark.django_db
def test_the_same_checks_as_the_admin(tmp_path: Path) -> None:
    """A rule the admin refuses (enters_group without a group) is refused by the file too, with the admin's words."""
    toy_store_import()
    rule = RoutingRule(key="x", name="x", trigger="enters_group")
    with pytest.raises(ValidationError) as admin:
        rule.full_clean()
    text = "leadflow_model: 1\nrouting:\n  - {key: x, name: x, trigger: enters_group, actions: []}\n"
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, text)))
    assert "Choose the score group this trigger watches." in str(admin.value)
    assert "routing[0].group: Choose the score group this trigger watches." in str(raised.value)


@pytest.mark.django_db
def test_a_setting_the_trigger_does_not_read_is_refused_not_kept(tmp_path: Path) -> None:
    """A group on a 'score rises to' rule did nothing but was kept, exported, and held the
    group in use; it is refused on its field, in the file as in the admin, as an action's
    unused setting is."""
    toy_store_import()
    text = (
        "leadflow_model: 1\nrouting:\n"
        "  - {key: x, name: x, trigger: score_rises_to, threshold: 80, group: frequent, actions: []}\n"
        "  - {key: y, name: y, trigger: enters_group, group: frequent, threshold: 10, stage: sql, actions: []}\n"
        "  - {key: z, name: z, trigger: stage_changes, stage: sql, actions: []}\n"
    )
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, text)))
    message = str(raised.value)
    assert "routing[0].group: 'score rises to N or more' does not use this: leave it empty." in message
    assert "routing[1].threshold: 'enters group' does not use this: leave it empty." in message
    assert "routing[1].stage: 'enters group' does not use this: leave it empty." in message
    assert "routing[2]" not in message
    assert message.count("\n") == 3
    rule = RoutingRule(key="w", name="w", trigger="qualified", threshold=5)
    with pytest.raises(ValidationError) as admin:
        rule.full_clean()
    assert admin.value.message_dict == {"threshold": ["'sales qualifies the lead' does not use this: leave it empty."]}


@pytest.mark.django_db
def test_a_rule_removed_from_the_file_is_deactivated_with_its_history(tmp_path: Path) -> None:
    toy_store_import()
    lead = LeadFactory.create()
    adjust(lead, 45)
    runs = ActionRun.objects.filter(action__rule__key="nurture-start").count()
    assert runs == 2
    spec = model_file.load_text(TOY_STORE[2].read_text())
    routing = routing_of(spec)
    assert routing.rules is not None
    smaller = RoutingSpec(teams=(), rules=tuple(r for r in routing.rules if r.key != "nurture-start"))
    path = write(tmp_path, model_file.dump_text(model_file.ModelSpec(scoring=False, sections={"routing": smaller})))
    assert "score_groups" not in path.read_text()
    call_command("scoring_model_import", "--publish", str(path))
    assert not RoutingRule.objects.get(key="nurture-start").active
    assert RoutingRule.objects.filter(active=True).count() == 5
    assert ActionRun.objects.filter(action__rule__key="nurture-start").count() == runs
    assert Team.objects.filter(key="sales").exists()  # not in the file: kept
    assert ScoreGroup.objects.count() == 3  # no scoring part: the scoring model is left alone
    # Exported, the deactivated rule says so, and comes back as it is.
    exported = model_file.dump_text(scoring.scoring_model_export())
    assert "active: false" in exported
    scoring.scoring_model_import(spec=model_file.load_text(exported))
    assert model_file.dump_text(scoring.scoring_model_export()) == exported


@pytest.mark.django_db
def test_actions_kept_in_a_rule_keep_their_rows(tmp_path: Path) -> None:
    toy_store_import()
    before = dict(RoutingAction.objects.filter(rule__key="preferential-to-sales").values_list("kind", "pk"))
    text = TOY_STORE[2].read_text().replace("      - {kind: add_tag, tag: vip}\n", "")
    call_command("scoring_model_import", "--publish", str(write(tmp_path, text)))
    after = dict(RoutingAction.objects.filter(rule__key="preferential-to-sales").values_list("kind", "pk"))
    assert after == {kind: pk for kind, pk in before.items() if kind != "add_tag"}
    assert list(
        RoutingAction.objects.filter(rule__key="preferential-to-sales").values_list("position", flat=True)
    ) == list(range(5))


@pytest.mark.django_db
def test_check_and_first_run_import(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE[0]))
    call_command("nurture_sequences_import", str(TOY_STORE[1]))
    call_command("scoring_model_import", "--publish", str(TOY_STORE[2]), "--check")
    assert "valid (teams and routing rules)" in capsys.readouterr().out
    assert not RoutingRule.objects.exists()
    assert not Team.objects.exists()
    # A first run imports the routing file although a scoring model is loaded; the next leaves it alone.
    call_command("scoring_model_import", "--publish", str(TOY_STORE[2]), "--if-empty")
    assert RoutingRule.objects.count() == 6
    call_command("scoring_model_import", "--publish", str(TOY_STORE[0]), "--if-empty")
    call_command("scoring_model_import", "--publish", str(TOY_STORE[2]), "--if-empty")
    assert capsys.readouterr().out.count("Already loaded") == 2


def test_a_file_with_nothing_to_import_is_refused() -> None:
    with pytest.raises(model_file.ModelFileError) as raised:
        model_file.load_text("leadflow_model: 1\nname: Empty\n")
    assert "holds nothing to import" in raised.value.errors[0]


@pytest.mark.django_db
def test_a_teams_feedback_deadline_goes_in_and_out_of_the_file(tmp_path: Path) -> None:
    team = "leadflow_model: 1\nteams:\n  - {key: sales, name: Sales, assignment: queue%s}\n"
    call_command("scoring_model_import", "--publish", str(write(tmp_path, team % ", feedback_days: 3")))
    assert Team.objects.get(key="sales").feedback_days == 3
    exported = model_file.dump_text(scoring.scoring_model_export())
    assert "feedback_days: 3" in exported
    scoring.scoring_model_import(spec=model_file.load_text(exported))
    assert Team.objects.get(key="sales").feedback_days == 3
    call_command("scoring_model_import", "--publish", str(write(tmp_path, team % "")))  # left out: no deadline
    assert Team.objects.get(key="sales").feedback_days is None
    assert "feedback_days" not in model_file.dump_text(scoring.scoring_model_export())


@pytest.mark.django_db
def test_a_probability_trigger_round_trips_through_the_file_and_is_watched(tmp_path: Path) -> None:
    toy_store_import()
    text = (
        "leadflow_model: 1\nrouting:\n"
        "  - {key: likely, name: Likely buyers, trigger: probability_rises, probability: 70,"
        " actions: [{kind: set_stage, stage: sql}]}\n"
    )
    call_command("scoring_model_import", "--publish", str(write(tmp_path, text)))
    assert RoutingRule.objects.get(key="likely").probability == 70
    assert PredictiveSettings.objects.get(pk=1).watched_percents == [70]
    exported_text = model_file.dump_text(scoring.scoring_model_export())
    (likely,) = [r for r in routing_of(model_file.load_text(exported_text)).rules or () if r.key == "likely"]
    assert (likely.trigger, likely.probability) == ("probability_rises", 70)
    # And a rule the admin refuses for want of its percent is refused by the file, in the admin's words.
    broken = text.replace(" probability: 70,", "")
    with pytest.raises(CommandError, match=r"routing\[0\]\.probability: Give the probability"):
        call_command("scoring_model_import", "--publish", str(write(tmp_path, broken)))


# --- a renamed group and the rules that watched it --------------------------------------

WATCHED = """leadflow_model: 1
score_groups:
  - {key: nurture, name: Nurture, min_score: 40}
  - {key: vip, name: VIP, min_score: 80}
rules: []
routing:
  - {key: vip-tag, name: VIP leads are tagged, trigger: enters_group, group: vip,
     actions: [{kind: add_tag, tag: vip}]}
  - {key: vip-left, name: Leaving VIP is tagged, trigger: leaves_group, group: vip,
     actions: [{kind: add_tag, tag: cooled}]}
"""
RENAMED = WATCHED.replace("{key: vip, name: VIP", "{key: preferential, name: Preferential")


def watched_groups() -> dict[str, tuple[bool, str | None]]:
    return {
        r.key: (r.active, r.group.key if r.group is not None else None)
        for r in RoutingRule.objects.select_related("group")
    }


@pytest.mark.django_db
def test_a_file_renaming_a_group_moves_the_rules_that_watched_it() -> None:
    scoring.scoring_model_import(spec=model_file.load_text(WATCHED))
    # Renamed, but the file's rules still name the old group: refused on each rule's field.
    with pytest.raises(model_file.ModelFileError) as refused:
        scoring.scoring_model_import(spec=model_file.load_text(RENAMED))
    assert refused.value.errors == [
        "routing[0].group: no score group with key 'vip' (known: nurture, preferential)",
        "routing[1].group: no score group with key 'vip' (known: nurture, preferential)",
    ]
    # Renamed by a file without routing: the rules still watch the old group, refused by name.
    with pytest.raises(model_file.ModelFileError) as refused:
        scoring.scoring_model_import(spec=model_file.load_text(RENAMED[: RENAMED.index("routing:")]))
    keep = "keep the group or change that first"
    assert refused.value.errors == [
        f"score_groups: vip not in the file, but routing rule 'Leaving VIP is tagged' uses it in group: {keep}",
        f"score_groups: vip not in the file, but routing rule 'VIP leads are tagged' uses it in group: {keep}",
    ]
    assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "vip"]
    # Moved in the same file: accepted (the groups were written before the rules, so the
    # rules the file was moving kept the old group and refused it).
    scoring.scoring_model_import(spec=model_file.load_text(RENAMED.replace("group: vip", "group: preferential")))
    assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "preferential"]
    assert watched_groups() == {"vip-tag": (True, "preferential"), "vip-left": (True, "preferential")}


@pytest.mark.django_db
def test_a_file_renaming_a_group_may_deactivate_the_rules_that_watched_it() -> None:
    scoring.scoring_model_import(spec=model_file.load_text(WATCHED))
    # One rule turned off in the file (naming no group: the file has no vip), the other
    # left out of it (so deactivated too).
    text = RENAMED.replace("trigger: enters_group, group: vip", "active: false, trigger: enters_group")
    text = text[: text.index("  - {key: vip-left")]
    scoring.scoring_model_import(spec=model_file.load_text(text))
    assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "preferential"]
    # An inactive rule lets go of the group it watched; it keeps its actions and history.
    assert watched_groups() == {"vip-tag": (False, None), "vip-left": (False, None)}
    assert RoutingAction.objects.filter(rule__key="vip-left").exists()
    # Its export imports again as it is.
    exported = model_file.dump_text(scoring.scoring_model_export())
    scoring.scoring_model_import(spec=model_file.load_text(exported))
    assert model_file.dump_text(scoring.scoring_model_export()) == exported
    # The list's own editing still saves, and turning such a rule on asks for its group on its row.
    client = Client()
    client.force_login(marketer())
    changelist = reverse("admin:routing_routingrule_changelist")
    rules = list(RoutingRule.objects.order_by("key"))
    data = {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "2", "_save": "Save"}
    for index, rule in enumerate(rules):
        data |= {f"form-{index}-id": str(rule.pk), f"form-{index}-position": str(index + 5)}
    assert client.post(changelist, data).status_code == 302
    assert RoutingRule.objects.get(key="vip-tag").position == 6
    on = rules.index(RoutingRule.objects.get(key="vip-tag"))
    response = client.post(changelist, data | {f"form-{on}-active": "on"})
    assert response.status_code == 200
    assert "Choose the score group this trigger watches." in response.content.decode()
    assert not RoutingRule.objects.get(key="vip-tag").active


WATCHED_AND_EXITED = (
    WATCHED
    + """sequences:
  - key: welcome
    name: Welcome
    exit: {reaches_group: vip}
    steps: [{subject: Hi, text: Hello}]
"""
)


def sequence_goal() -> str | None:
    group = Sequence.objects.select_related("exit_on_group_reached").get(key="welcome").exit_on_group_reached
    return group.key if group is not None else None


@pytest.mark.django_db
def test_the_import_command_publishing_a_file_that_renames_a_group_writes_its_moves_first(tmp_path: Path) -> None:
    # --check said the file was valid, --publish refused it: publishing the scoring part
    # deleted the left-out group before the file's rules and sequences were written.
    call_command("scoring_model_import", "--publish", str(write(tmp_path, WATCHED_AND_EXITED)))
    renamed = WATCHED_AND_EXITED.replace("{key: vip, name: VIP", "{key: preferential, name: Preferential")
    moved = renamed.replace("group: vip", "group: preferential").replace(
        "reaches_group: vip", "reaches_group: preferential"
    )
    # The rules moved, but not the sequence (the file leaves it as it is): refused by the
    # check and the publish alike, nothing applied.
    not_moved = moved[: moved.index("sequences:")]
    for flags in (["--check"], ["--publish"]):
        with pytest.raises(CommandError) as refused:
            call_command("scoring_model_import", *flags, str(write(tmp_path, not_moved)))
        assert "1 problem(s); nothing was imported" in str(refused.value)
        assert "vip not in the file, but sequence 'Welcome' uses it in exit.reaches_group" in str(refused.value)
    assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "vip"]
    assert ModelVersion.objects.filter(status=ModelVersion.Status.LIVE).count() == 1
    assert watched_groups() == {"vip-tag": (True, "vip"), "vip-left": (True, "vip")}
    # Moved in the same file: the check and the publish both accept it.
    call_command("scoring_model_import", "--check", str(write(tmp_path, moved)))
    call_command("scoring_model_import", "--publish", str(write(tmp_path, moved)))
    assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "preferential"]
    assert watched_groups() == {"vip-tag": (True, "preferential"), "vip-left": (True, "preferential")}
    assert sequence_goal() == "preferential"


@pytest.mark.django_db
def test_a_rule_naming_a_group_its_own_file_leaves_out_is_refused_the_first_time() -> None:
    # The group was still in the database (parked) while the rules were written, so the
    # inactive rule was accepted, then emptied of it: the same file was refused the second time.
    scoring.scoring_model_import(spec=model_file.load_text(WATCHED))
    text = RENAMED.replace("trigger: enters_group", "active: false, trigger: enters_group")
    text = text.replace("trigger: leaves_group, group: vip", "trigger: leaves_group, group: preferential")
    for _ in range(2):
        with pytest.raises(model_file.ModelFileError) as refused:
            scoring.scoring_model_import(spec=model_file.load_text(text))
        assert refused.value.errors == [
            "routing[0].group: no score group with key 'vip' (known: nurture, preferential)"
        ]
        assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "vip"]
        assert watched_groups() == {"vip-tag": (True, "vip"), "vip-left": (True, "vip")}


@pytest.mark.django_db
def test_a_group_still_in_use_is_reported_with_the_other_sections_problems() -> None:
    # They came one import after the other: the sections' problems first, then the groups'.
    scoring.scoring_model_import(spec=model_file.load_text(WATCHED_AND_EXITED))
    moved = WATCHED_AND_EXITED.replace("{key: vip, name: VIP", "{key: preferential, name: Preferential").replace(
        "group: vip", "group: preferential"
    )
    # The rules move (but one has a typo); the sequence, left out of the file, keeps vip.
    broken = moved[: moved.index("sequences:")].replace("tag: cooled", "tag: cooled, team: nowhere")
    broken = broken.replace("{kind: add_tag, tag: cooled, team: nowhere}", "{kind: route_to_queue, team: nowhere}")
    with pytest.raises(model_file.ModelFileError) as refused:
        scoring.scoring_model_import(spec=model_file.load_text(broken))
    # The failed routing section's rules are not taken as still watching vip (they were moving).
    assert refused.value.errors == [
        "routing[1].actions[0].team: no team with key 'nowhere' (known: none yet)",
        "score_groups: vip not in the file, but sequence 'Welcome' uses it in exit.reaches_group: "
        "keep the group or change that first",
    ]
    assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "vip"]


@pytest.mark.django_db
def test_rules_stored_with_a_setting_their_trigger_does_not_read_lose_it_and_export_again(tmp_path: Path) -> None:
    """Stored before the check refused them, such rules made the rules' list fail to save
    and their export fail to import; the migration empties what no trigger reads."""
    toy_store_import()
    RoutingRule.objects.filter(key="nurture-start").update(threshold=50, stage="sql")
    kept = dict(RoutingRule.objects.filter(key="nurture-start").values_list("trigger", "group_id"))
    migration = importlib.import_module("routing.migrations.0018_trigger_settings_unread_emptied")

    migration.unread_settings_empty(django_apps, None)

    rule = RoutingRule.objects.get(key="nurture-start")
    assert (rule.threshold, rule.stage) == (None, "")
    assert {rule.trigger: rule.group_id} == kept  # what the trigger reads stays
    rule.full_clean()
    exported = tmp_path / "model.yaml"
    call_command("scoring_model_export", str(exported), stdout=StringIO())
    call_command("scoring_model_import", "--publish", str(exported), stdout=StringIO())
