"""Versions of the scoring model: drafts apart from the live model, publish, restore."""

import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from scoring import model_file, sentences, services
from scoring.models import EventType, ModelVersion, RescoreJob, ScoreEntry, ScoreGroup, ScoringRule, SegmentEvent
from scoring.rules import Dimension
from scoring.services import versions
from tests.conftest import Workers, at_once, wait_for
from tests.factories import InteractionFactory, LeadFactory
from tests.routing.factories import UserFactory, marketer

ROOT = Path(__file__).resolve().parents[2]
TOY_STORE = ROOT / "examples" / "toy_store.yaml"
T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def toy_store_live() -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE))


def draft_rule(draft: ModelVersion, key: str) -> ScoringRule:
    return ScoringRule.all_versions.get(version=draft, key=key)


def test_a_draft_is_a_copy_the_live_model_does_not_see() -> None:
    toy_store_live()
    live_rules = ScoringRule.objects.count()
    draft = versions.draft_create(user=None)

    assert versions.version_spec(draft) == versions.live_spec()
    rule = draft_rule(draft, "email-interaction")
    rule.points = 40
    rule.save()
    ScoringRule.all_versions.create(version=draft, key="new-one", name="New", dimension="fit", points=3)

    # The live model, as every reader sees it, is unchanged.
    assert ScoringRule.objects.count() == live_rules
    assert ScoringRule.objects.get(key="email-interaction").points != 40
    assert versions.version_spec(draft) != versions.live_spec()


def test_publish_then_restore_gives_back_the_same_model() -> None:
    toy_store_live()
    first = versions.live_version()
    assert first is not None
    assert first.number == 1
    before = versions.live_spec()

    draft = versions.draft_create(user=None)
    rule = draft_rule(draft, "email-interaction")
    rule.points = 9
    rule.save()
    ScoreGroup.all_versions.filter(version=draft, key="nurture").update(min_score=30)
    published = versions.version_publish(draft=draft, user=None, note="opens count more")

    assert published.version.status == ModelVersion.Status.LIVE
    assert published.version.number == 2
    assert published.version.note == "opens count more"
    assert ScoringRule.objects.get(key="email-interaction").points == 9
    assert ScoreGroup.objects.get(key="nurture").min_score == 30
    first.refresh_from_db()
    assert first.status == ModelVersion.Status.RETIRED
    assert first.spec == before
    # The draft's rows are gone: the live model is all there is.
    assert not ScoringRule.all_versions.filter(version__isnull=False).exists()
    assert published.job is not None
    assert published.job.kind == RescoreJob.Kind.RESCORE

    restored = versions.version_restore(version=first, user=None)
    assert restored.status == ModelVersion.Status.DRAFT
    assert restored.based_on == first
    assert versions.version_spec(restored) == before
    versions.version_publish(draft=restored, user=None, note="back")
    assert versions.live_spec() == before
    assert list(ModelVersion.objects.order_by("number").values_list("number", "status")) == [
        (1, "retired"),
        (2, "retired"),
        (3, "live"),
    ]


def test_publish_keeps_live_ids_so_leads_and_ledger_still_point_at_them() -> None:
    toy_store_live()
    group_ids = dict(ScoreGroup.objects.values_list("key", "id"))
    rule_ids = dict(ScoringRule.objects.values_list("key", "id"))
    draft = versions.draft_create(user=None)
    ScoringRule.all_versions.filter(version=draft).update(points=1)
    versions.version_publish(draft=draft, user=None)
    assert dict(ScoreGroup.objects.values_list("key", "id")) == group_ids
    assert dict(ScoringRule.objects.values_list("key", "id")) == rule_ids


def test_a_stale_draft_is_refused_unless_told() -> None:
    toy_store_live()
    old = versions.draft_create(user=None)
    newer = versions.draft_create(user=None)
    ScoringRule.all_versions.filter(version=newer, key="email-interaction").update(points=7)
    versions.version_publish(draft=newer, user=None)

    with pytest.raises(versions.VersionStale):
        versions.version_publish(draft=old, user=None)
    old.refresh_from_db()
    assert old.status == ModelVersion.Status.DRAFT
    assert ScoringRule.objects.get(key="email-interaction").points == 7
    assert versions.draft_is_stale(old)

    versions.version_publish(draft=old, user=None, stale_ok=True)
    assert ScoringRule.objects.get(key="email-interaction").points != 7


def test_the_engine_scores_with_the_live_rules_only() -> None:
    toy_store_live()
    draft = versions.draft_create(user=None)
    ScoringRule.all_versions.create(
        version=draft, key="opens-are-gold", name="Opens", dimension="engagement", points=500,
        interaction_types=["email_open"],
    )  # fmt: skip
    lead = LeadFactory.create()
    InteractionFactory.create(lead=lead, type="email_open", occurred_at=T0)
    services.interactions_score_pending()
    lead.refresh_from_db()
    live_points = ScoringRule.objects.get(key="email-interaction").points
    assert lead.engagement_score == live_points
    assert not ScoreEntry.objects.filter(lead=lead, rule__version__isnull=False).exists()
    # What a replay would score the draft with: its own rules, the new one among them.
    assert "opens-are-gold" in {
        r.key for r in ScoringRule.all_versions.filter(pk__in=[p.id for p in versions.version_rules_pure(draft)])
    }
    assert {p.id for p in versions.version_rules_pure(None)} == set(ScoringRule.objects.values_list("pk", flat=True))


def test_import_makes_a_draft_unless_told_to_publish(tmp_path: Path) -> None:
    call_command("scoring_model_import", str(TOY_STORE))
    assert not ScoringRule.objects.exists()
    draft = ModelVersion.objects.get(status=ModelVersion.Status.DRAFT)
    assert ScoringRule.all_versions.filter(version=draft).count() == len(
        model_file.load_text(TOY_STORE.read_text()).rules
    )
    assert versions.live_version() is None

    call_command("scoring_model_import", "--publish", "--note", "first model", str(TOY_STORE))
    live = versions.live_version()
    assert live is not None
    assert live.note == "first model"
    assert ScoringRule.objects.count() == ScoringRule.all_versions.filter(version=draft).count()
    # The earlier draft is still a draft, untouched.
    assert ModelVersion.objects.filter(pk=draft.pk, status=ModelVersion.Status.DRAFT).exists()

    # --if-empty leaves a loaded model alone, --publish or not.
    call_command("scoring_model_import", "--if-empty", "--publish", str(TOY_STORE))
    assert ModelVersion.objects.filter(status=ModelVersion.Status.LIVE).count() == 1
    assert ModelVersion.objects.exclude(status=ModelVersion.Status.DRAFT).count() == 1


def test_a_drafts_event_types_wait_for_its_publish_and_come_back_with_a_restore(tmp_path: Path) -> None:
    """Event types (and the Segment names mapped to them) are part of a version: a draft
    imported with new ones leaves intake's live mapping alone until it is published, and
    restoring the version before brings the earlier ones back."""
    toy_store_live()
    first = versions.live_version()
    assert first is not None
    data = yaml.safe_load(TOY_STORE.read_text())
    data["event_types"] = [{"key": "trial_started", "label": "Trial started", "segment_events": ["Trial Started"]}]
    data["rules"].append(
        {
            "key": "trial",
            "name": "Started a trial",
            "dimension": "engagement",
            "points": 15,
            "interaction_types": ["trial_started"],
        }
    )
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data))
    call_command("scoring_model_import", str(path))

    draft = ModelVersion.objects.get(status=ModelVersion.Status.DRAFT)
    assert versions.version_spec(draft)["event_types"] == data["event_types"]
    assert not EventType.objects.filter(key="trial_started", declared=True).exists()
    assert not SegmentEvent.objects.exists()  # intake still maps nothing
    assert versions.live_spec()["event_types"] == []
    client = Client(HTTP_HOST="localhost")
    client.force_login(marketer())
    shown = page(client, reverse("admin:scoring_modelversion_change", args=[draft.pk]))
    assert "trial_started (Trial started): Segment events Trial Started" in shown
    assert "when this draft is published" in shown

    versions.version_publish(draft=draft, user=None, rescore=False)
    assert EventType.objects.get(key="trial_started").label == "Trial started"
    assert list(SegmentEvent.objects.values_list("name", "event_type__key")) == [("Trial Started", "trial_started")]
    assert versions.live_spec()["event_types"] == data["event_types"]

    first.refresh_from_db()  # published earlier now
    restored = versions.version_restore(version=first, user=None)
    assert versions.version_spec(restored)["event_types"] == []
    versions.version_publish(draft=restored, user=None, rescore=False)
    assert not EventType.objects.filter(key="trial_started", declared=True).exists()
    assert not SegmentEvent.objects.exists()


def test_a_file_without_event_types_makes_a_draft_that_keeps_the_live_ones(tmp_path: Path) -> None:
    toy_store_live()
    declared = [{"key": "webinar_attended", "label": "Webinar attended", "segment_events": ["Webinar Joined"]}]
    services.scoring_model_import(spec=model_file.load_data({"leadflow_model": 1, "event_types": declared}))
    call_command("scoring_model_import", str(TOY_STORE))  # no event_types in it
    draft = ModelVersion.objects.get(status=ModelVersion.Status.DRAFT)
    assert versions.version_spec(draft)["event_types"] == declared
    versions.version_publish(draft=draft, user=None, rescore=False)
    assert list(SegmentEvent.objects.values_list("name", "event_type__key")) == [("Webinar Joined", "webinar_attended")]


def test_a_draft_import_refuses_other_apps_sections_which_are_not_versioned(tmp_path: Path) -> None:
    data = yaml.safe_load(TOY_STORE.read_text())
    data["teams"] = [{"key": "inside", "name": "Inside sales"}]
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CommandError, match="which are not kept in drafts"):
        call_command("scoring_model_import", str(path))
    assert not ModelVersion.objects.exists()


def test_publishing_needs_the_permission() -> None:
    toy_store_live()
    draft = versions.draft_create(user=None)
    with pytest.raises(PermissionDenied):
        versions.version_publish(draft=draft, user=UserFactory.create(is_staff=True))
    draft.refresh_from_db()
    assert draft.status == ModelVersion.Status.DRAFT
    published = versions.version_publish(draft=draft, user=marketer())
    assert published.version.status == ModelVersion.Status.LIVE


def test_discarding_a_draft_removes_its_rows_only() -> None:
    toy_store_live()
    live_rules = ScoringRule.objects.count()
    draft = versions.draft_create(user=None)
    versions.draft_discard(draft=draft)
    assert not ModelVersion.objects.filter(pk=draft.pk).exists()
    assert ScoringRule.all_versions.count() == ScoringRule.objects.count() == live_rules
    with pytest.raises(versions.VersionError):
        versions.draft_discard(draft=versions.live_version())  # type: ignore[arg-type]


def test_the_publish_screen_counts_leads_crossing_the_drafts_thresholds() -> None:
    toy_store_live()
    nurture = ScoreGroup.objects.get(key="nurture")  # 40+, frequent 60+
    for total in (35, 35, 45, 55, 65):
        lead = LeadFactory.create()
        services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=total, note="test")
    assert nurture.leads.count() == 2
    draft = versions.draft_create(user=None)
    ScoreGroup.all_versions.filter(version=draft, key="nurture").update(min_score=30)
    ScoreGroup.all_versions.filter(version=draft, key="frequent").update(min_score=50, leave_below=None)

    moves = {(m.from_group, m.to_group): m.leads for m in versions.publish_crossings(draft=draft)}
    assert moves == {("no group", "Nurture"): 2, ("Nurture", "Frequent customer"): 1}


@pytest.mark.django_db(transaction=True)
def test_a_draft_and_the_live_model_edited_at_once_keep_both_edits(postgres: None) -> None:
    toy_store_live()
    draft = versions.draft_create(user=None)
    draft_pk = draft_rule(draft, "email-interaction").pk
    live_pk = ScoringRule.objects.get(key="email-interaction").pk

    def edit_draft() -> None:
        for points in range(1, 21):
            rule = ScoringRule.all_versions.get(pk=draft_pk)
            rule.points = points
            rule.save()
            ScoringRule.all_versions.create(
                version=draft, key=f"draft-{points}", name=f"Draft {points}", dimension="engagement",
                points=points, interaction_types=["email_open"],
            )  # fmt: skip

    def edit_live() -> None:
        for points in range(101, 121):
            rule = ScoringRule.objects.get(pk=live_pk)
            rule.points = points
            rule.save()
            # Same keys as the draft's: each model has its own names.
            ScoringRule.objects.create(
                key=f"draft-{points - 100}", name=f"Live {points}", dimension="engagement", points=points,
                interaction_types=["email_click"],
            )  # fmt: skip

    at_once(edit_draft, edit_live)

    assert ScoringRule.all_versions.get(pk=draft_pk).points == 20
    assert ScoringRule.objects.get(pk=live_pk).points == 120
    assert ScoringRule.all_versions.filter(version=draft, key__startswith="draft-").count() == 20
    assert set(ScoringRule.objects.filter(key__startswith="draft-").values_list("name", flat=True)) == {
        f"Live {p}" for p in range(101, 121)
    }
    # The draft was made before the live edits: publishing it now would undo them.
    assert versions.draft_is_stale(draft)


@pytest.mark.django_db(transaction=True)
def test_two_publishes_at_once_make_one_live_version(postgres: None) -> None:
    toy_store_live()
    one = versions.draft_create(user=None)
    two = versions.draft_create(user=None)
    results: list[str] = []

    def publish(draft: ModelVersion) -> None:
        try:
            versions.version_publish(draft=draft, user=None)
            results.append("published")
        except versions.VersionStale:
            results.append("stale")

    ScoringRule.all_versions.filter(version=one).update(points=11)
    ScoringRule.all_versions.filter(version=two).update(points=22)
    at_once(lambda: publish(one), lambda: publish(two))

    assert sorted(results) == ["published", "stale"]
    assert ModelVersion.objects.filter(status=ModelVersion.Status.LIVE).count() == 1
    assert len(set(ScoringRule.objects.values_list("points", flat=True))) == 1


# --- the admin pages -------------------------------------------------------------------


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.content.decode())


def test_a_marketer_edits_a_draft_and_publishes_it_from_the_admin() -> None:
    toy_store_live()
    client = Client(HTTP_HOST="localhost")
    client.force_login(marketer())
    for n in range(3):
        services.lead_upsert(email=f"sj{n}@example.com", fields={"city": "San José"})

    assert client.post(reverse("admin:scoring_modelversion_add"), {"name": "Local first"}).status_code == 302
    draft = ModelVersion.objects.get(status=ModelVersion.Status.DRAFT)
    listing = page(client, reverse("admin:scoring_modelversion_changelist"))
    assert "Draft: Local first" in listing
    assert "Publish…" in listing
    contents = page(client, reverse("admin:scoring_modelversion_change", args=[draft.pk]))
    assert "Lives or works in San José" in contents
    replay = reverse("admin:scoring_replayrun_add") + f"?version={draft.pk}"
    assert f'href="{replay}">Replay last 90 days</a>' in contents
    assert "start a draft under Model versions" in page(client, reverse("admin:scoring_scoringrule_changelist"))

    rule = draft_rule(draft, "lives-or-works-in-san-jose")
    rule_page = page(client, reverse("admin:scoring_draftscoringrule_change", args=[rule.pk]))
    assert "matches 3 leads now" in rule_page

    publish = page(client, reverse("admin:scoring_modelversion_publish", args=[draft.pk]))
    assert "No lead changes group" in publish
    ScoreGroup.all_versions.filter(version=draft, key="nurture").update(min_score=5)
    publish = page(client, reverse("admin:scoring_modelversion_publish", args=[draft.pk]))
    assert "no group" in publish
    assert "<td>Nurture</td><td>3</td>" in publish.replace("\n", "")

    response = client.post(reverse("admin:scoring_modelversion_publish", args=[draft.pk]), {"note": "lower bar"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.note) == (ModelVersion.Status.LIVE, "lower bar")
    assert ScoreGroup.objects.get(key="nurture").min_score == 5

    # The earlier version can be restored as a draft from the list.
    earlier = ModelVersion.objects.get(status=ModelVersion.Status.RETIRED)
    assert "Restore as draft" in page(client, reverse("admin:scoring_modelversion_changelist"))
    response = client.post(reverse("admin:scoring_modelversion_restore", args=[earlier.pk]))
    restored = ModelVersion.objects.get(status=ModelVersion.Status.DRAFT)
    assert "has no version yet" not in page(client, reverse("admin:scoring_modelversion_changelist"))
    assert response["Location"] == reverse("admin:scoring_modelversion_change", args=[restored.pk])
    assert versions.version_spec(restored) == earlier.spec


def test_a_model_from_before_versions_is_kept_as_the_first_one_published() -> None:
    services.scoring_model_import(spec=model_file.load_text(TOY_STORE.read_text()))  # as before versions
    before = versions.live_spec()
    client = Client(HTTP_HOST="localhost")
    client.force_login(marketer())
    assert "has no version yet" in page(client, reverse("admin:scoring_modelversion_changelist"))
    assert not ModelVersion.objects.exists()  # looking writes nothing

    draft = versions.draft_create(user=None)
    ScoringRule.all_versions.filter(version=draft).update(points=1)
    versions.version_publish(draft=draft, user=None)
    first = ModelVersion.objects.get(number=1)
    assert (first.status, first.spec) == (ModelVersion.Status.RETIRED, before)
    assert ModelVersion.objects.get(number=2).status == ModelVersion.Status.LIVE


def test_a_user_without_the_permission_sees_the_publish_screen_but_cannot_publish() -> None:
    toy_store_live()
    draft = versions.draft_create(user=None)
    user = UserFactory.create(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    url = reverse("admin:scoring_modelversion_publish", args=[draft.pk])
    assert "publishing needs the permission" in page(client, url)
    assert client.post(url, {"note": "x"}).status_code == 403
    draft.refresh_from_db()
    assert draft.status == ModelVersion.Status.DRAFT


def test_a_draft_rule_with_a_key_the_draft_has_is_refused_on_its_field() -> None:
    toy_store_live()
    draft = versions.draft_create(user=None)
    client = Client(HTTP_HOST="localhost")
    client.force_login(marketer())
    form = {
        "name": "Dup",
        "key": "email-interaction",
        "description": "",
        "dimension": "engagement",
        "points": "3",
        "interaction_types": ["email_open"],
        "match": "all",
        "active": "on",
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
    }
    url = reverse("admin:scoring_draftscoringrule_add") + f"?version={draft.pk}"
    refused = client.post(url, form)
    assert refused.status_code == 200
    assert "The draft has a rule with this key already." in html.unescape(refused.content.decode())
    saved = client.post(url, {**form, "key": "opens-again"})
    assert saved["Location"] == reverse("admin:scoring_modelversion_change", args=[draft.pk])
    assert ScoringRule.all_versions.get(key="opens-again").version == draft
    assert not ScoringRule.objects.filter(key="opens-again").exists()


@pytest.mark.services
def test_publishing_has_a_worker_rescore_the_leads_under_the_new_version(celery_workers: Workers) -> None:
    toy_store_live()
    leads = [services.lead_upsert(email=f"sj{n}@example.com", fields={"city": "San José"})[0] for n in range(3)]
    assert {lead.fit_score for lead in leads} == {8}
    draft = versions.draft_create(user=None)
    ScoringRule.all_versions.filter(version=draft, key="lives-or-works-in-san-jose").update(points=45)
    celery_workers.start()

    published = versions.version_publish(draft=draft, user=None, note="locals first")

    assert published.job is not None
    job_id = published.job.pk
    wait_for(
        lambda: RescoreJob.objects.get(pk=job_id).status == RescoreJob.Status.DONE,
        message=f"the rescore job to finish\n{celery_workers.logs()}",
    )
    nurture = ScoreGroup.objects.get(key="nurture")  # 40+: 45 points of fit put them in it
    for lead in leads:
        lead.refresh_from_db()
        assert (lead.fit_score, lead.score_group_id) == (45, nurture.pk)


def test_a_restore_made_by_a_spanish_reader_is_stored_with_an_english_name() -> None:
    """The name is stored and shown to every reader: it is built from the version's English
    name, like the model's other stored texts, whatever language restored it."""
    toy_store_live()
    first = versions.live_version()
    assert first is not None
    versions.version_publish(draft=versions.draft_create(user=None), user=None)
    first.refresh_from_db()
    with translation.override("es"):
        restored = versions.version_restore(version=first, user=None)
        assert str(restored) == "Borrador: Restore of Version 1: Toy store"
    restored.refresh_from_db()
    assert restored.name == "Restore of Version 1: Toy store"
    with translation.override("en"):
        assert str(restored) == "Draft: Restore of Version 1: Toy store"


def test_version_errors_raised_for_a_spanish_reader_are_english_like_the_other_model_errors(tmp_path: Path) -> None:
    toy_store_live()
    live = versions.live_version()
    assert live is not None
    draft = versions.draft_create(user=None)
    with translation.override("es"):
        with pytest.raises(versions.VersionError) as restoring:
            versions.version_restore(version=draft, user=None)
        with pytest.raises(versions.VersionError) as discarding:
            versions.draft_discard(draft=live)
        with pytest.raises(versions.VersionError) as publishing:
            versions.version_publish(draft=live, user=None)
    assert restoring.value.errors == [f"Draft #{draft.pk} is a draft already: edit it, or publish it"]
    assert discarding.value.errors == ["Version 1: Toy store is not a draft: the history keeps it"]
    assert publishing.value.errors == ["Version 1: Toy store is not a draft (it is live)"]


def test_the_command_line_names_an_imported_draft_in_english_whatever_the_language() -> None:
    out = io.StringIO()
    with translation.override("es"):
        call_command("scoring_model_import", str(TOY_STORE), stdout=out)
    assert "imported as a draft (Draft: Toy store, 3 groups" in out.getvalue(), out.getvalue()


@pytest.mark.parametrize("model", ["draftscoringrule", "draftscoregroup", "draftdecaypolicy"])
def test_a_draft_page_given_no_draft_id_answers_as_for_no_draft(client: Client, model: str) -> None:
    client.force_login(marketer())
    add = reverse(f"admin:scoring_{model}_add")
    without = client.get(add)
    # "²" is a digit to str.isdigit, which int() refuses: it was a server error.
    for version in ("²", "-1", "abc", "9223372036854775808", "9" * 30, "9" * 5000):
        response = client.get(add, {"version": version})
        assert response.status_code == without.status_code, version


def test_a_spanish_reader_is_told_in_spanish_why_a_version_cannot_be_restored_or_published(admin_user: Any) -> None:
    toy_store_live()
    live = versions.live_version()
    assert live is not None
    draft = versions.draft_create(user=None)
    spanish = Client(headers={"accept-language": "es"})
    spanish.force_login(admin_user)

    restoring = spanish.post(reverse("admin:scoring_modelversion_restore", args=[draft.pk]), follow=True)
    publishing = spanish.post(reverse("admin:scoring_modelversion_publish", args=[live.pk]))

    assert f"Borrador n.º {draft.pk} ya es un borrador: edítalo o publícalo" in html.unescape(
        restoring.content.decode()
    )
    assert publishing.status_code == 404  # the publish page is a draft's only
    with translation.override("es"):
        with pytest.raises(versions.VersionError) as discarding:
            versions.draft_discard(draft=live)
        with pytest.raises(versions.VersionError) as publishing_live:
            versions.version_publish(draft=live, user=None)
        assert sentences.problems(discarding.value.errors) == [
            "Versión 1: Toy store no es un borrador: queda en el historial"
        ]
        assert sentences.problems(publishing_live.value.errors) == [
            "Versión 1: Toy store no es un borrador (está en vigor)"
        ]


def test_a_spanish_reader_is_told_in_spanish_that_a_draft_is_stale(admin_user: Any) -> None:
    toy_store_live()
    old = versions.draft_create(user=None)
    newer = versions.draft_create(user=None)
    versions.version_publish(draft=newer, user=None)
    ScoringRule.objects.filter(key="email-interaction").update(points=7)
    spanish = Client(headers={"accept-language": "es"})
    spanish.force_login(admin_user)

    refused = spanish.post(reverse("admin:scoring_modelversion_publish", args=[old.pk]), {"note": ""})

    shown = html.unescape(refused.content.decode())
    assert "El modelo en vigor cambió después de hacer este borrador" in shown
    assert "The live model changed" not in shown
    old.refresh_from_db()
    assert old.status == ModelVersion.Status.DRAFT
