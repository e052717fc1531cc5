"""Replays in the admin: Marketing starts one (the version chosen by the link), watches
it and cancels it, and reads the comparison; sales reps may not; bad input is a form
error, never a 500."""

from __future__ import annotations

import html
import importlib
import json
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import translation

from scoring import model_file, sentences, services
from scoring.file_checks import Problem
from scoring.models import ModelVersion, ReplayRun, ScoringRule
from scoring.services import versions
from tests.routing.factories import RepFactory, marketer
from tests.scoring.test_replay import DRAFT, history

_migration = importlib.import_module("scoring.migrations.0026_replay_runs")


def marketing_user() -> User:
    """A marketer, with the migration's replay permissions (a flush may have taken them away)."""
    user = marketer()
    Group.objects.get(name="Marketing").permissions.add(
        *(Permission.objects.get(content_type__app_label=app, codename=code) for app, code in _migration.MARKETING)
    )
    return user


def logged_in(user: User) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


@pytest.fixture
def version(db: None) -> ModelVersion:
    history()
    return versions.draft_import(spec=model_file.load_data(DRAFT), user=None, name="forms matter more")


def test_a_marketer_starts_a_replay_from_the_version_s_link_and_reads_the_comparison(version: ModelVersion) -> None:
    client = logged_in(marketing_user())
    page = client.get(f"/admin/scoring/replayrun/add/?version={version.pk}")
    assert page.status_code == 200
    assert f'<option value="{version.pk}" selected>' in page.content.decode()

    response = client.post("/admin/scoring/replayrun/add/", {"version": version.pk, "days": 90})
    run = ReplayRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/scoring/replayrun/{run.pk}/change/"
    assert (run.status, run.days, run.version_id) == (ReplayRun.Status.QUEUED, 90, version.pk)
    assert client.get(f"/admin/scoring/replayrun/{run.pk}/progress/").json() == {
        "status": "queued",
        "label": "Queued",
        "progress": 0,
        "finished": False,
    }
    queued = client.get(f"/admin/scoring/replayrun/{run.pk}/change/").content.decode()
    assert "Cancel the replay" in queued

    services.replay_run(run_id=run.pk)
    assert client.get(f"/admin/scoring/replayrun/{run.pk}/progress/").json()["finished"] is True
    done = client.get(f"/admin/scoring/replayrun/{run.pk}/change/").content.decode()
    assert "Cancel the replay" not in done
    assert "<strong>2</strong> would change group" in done
    assert 'id="replay-roc-data"' in done
    assert "d@example.com" in done
    # A count of leads reads grouped, as every figure on the page does.
    ReplayRun.objects.filter(pk=run.pk).update(result={**run_result(run.pk), "leads": 12345})
    assert "12,345 leads replayed" in client.get(f"/admin/scoring/replayrun/{run.pk}/change/").content.decode()


def run_result(run_id: int) -> dict[str, object]:
    result = ReplayRun.objects.get(pk=run_id).result
    assert isinstance(result, dict)
    return result


def test_a_marketer_cancels_a_queued_replay(version: ModelVersion) -> None:
    client = logged_in(marketing_user())
    run = services.replay_start(version=version, background=False)
    response = client.post(f"/admin/scoring/replayrun/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == ReplayRun.Status.CANCELLED
    assert client.get(f"/admin/scoring/replayrun/{run.pk}/cancel/").status_code == 405  # only a POST cancels


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"days": 0}, "days", "Give a whole number of days from 1 to 3650, not 0."),
        ({"days": 5000}, "days", "Give a whole number of days from 1 to 3650, not 5000."),
        ({"days": "ninety"}, "days", "Enter a whole number."),
        ({"version": 999999}, "version", "Select a valid choice."),
        ({"version": ""}, "version", "This field is required."),
    ],
)
def test_bad_input_is_a_form_error_on_its_field(
    version: ModelVersion, data: dict[str, object], field: str, message: str
) -> None:
    client = logged_in(marketing_user())
    response = client.post("/admin/scoring/replayrun/add/", {"version": version.pk, "days": 90, **data})
    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    assert not ReplayRun.objects.exists()


def test_in_spanish_the_refusals_are_in_spanish(version: ModelVersion, settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"
    broken = ModelVersion.objects.create(
        status=ModelVersion.Status.RETIRED, number=99, spec={"leadflow_model": 1, "rules": [{"key": "x"}]}
    )
    client = logged_in(marketing_user())

    days = client.post("/admin/scoring/replayrun/add/", {"version": version.pk, "days": 0})
    kept = client.post("/admin/scoring/replayrun/add/", {"version": broken.pk, "days": 90})

    assert "Indica un número entero de días de 1 a 3650, no 0." in str(days.context["adminform"].form.errors["days"])
    assert "Esta versión no se puede reproducir: rules[0].name: falta, y es obligatorio; rules[0].dimension: falta" in (
        html.unescape(str(kept.context["adminform"].form.errors["version"]))
    )


def test_a_version_that_cannot_be_replayed_is_refused_on_the_version(version: ModelVersion) -> None:
    broken = ModelVersion.objects.create(
        status=ModelVersion.Status.RETIRED, number=99, spec={"leadflow_model": 1, "rules": [{"key": "x"}]}
    )
    response = logged_in(marketing_user()).post("/admin/scoring/replayrun/add/", {"version": broken.pk, "days": 90})
    assert response.status_code == 200
    assert "This version cannot be replayed: rules[0]" in str(response.context["adminform"].form.errors["version"])


@pytest.mark.parametrize(
    "query",
    ["?version=abc", "?version=999999", "?version=1" + "0" * 30, "?days=-4", "?version=9223372036854775808"],
)
def test_odd_links_still_show_the_form(version: ModelVersion, query: str) -> None:
    assert logged_in(marketing_user()).get(f"/admin/scoring/replayrun/add/{query}").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["999999/change/", "abc/change/", "999999/progress/", "9223372036854775807/change/", "9" * 20 + "/change/"],
)
def test_a_replay_that_does_not_exist_is_not_an_error(version: ModelVersion, path: str) -> None:
    assert logged_in(marketing_user()).get(f"/admin/scoring/replayrun/{path}").status_code in (302, 404)


def test_sales_reps_may_not_replay_nor_read_replays(version: ModelVersion) -> None:
    run = services.replay_start(version=version, background=False)
    rep = RepFactory.create(user__is_staff=True)
    client = logged_in(rep.user)
    assert client.get("/admin/scoring/replayrun/add/").status_code == 403
    assert client.get(f"/admin/scoring/replayrun/{run.pk}/change/").status_code == 403
    assert client.get(f"/admin/scoring/replayrun/{run.pk}/progress/").status_code == 403
    assert client.post(f"/admin/scoring/replayrun/{run.pk}/cancel/").status_code == 403
    assert client.post("/admin/scoring/replayrun/add/", {"version": version.pk, "days": 90}).status_code == 403
    run.refresh_from_db()
    assert run.status == ReplayRun.Status.QUEUED
    assert ReplayRun.objects.count() == 1


@pytest.mark.django_db
def test_the_migration_lets_marketing_replay_and_not_sales() -> None:
    marketing = set(Group.objects.get(name="Marketing").permissions.values_list("codename", flat=True))
    assert {"view_replayrun", "add_replayrun", "change_replayrun"} <= marketing
    assert "delete_replayrun" not in marketing
    sales = set(Group.objects.get(name="Sales").permissions.values_list("codename", flat=True))
    assert not {code for code in sales if code.endswith("_replayrun")}


def test_the_publish_page_says_what_each_count_measures_and_links_to_the_replay(version: ModelVersion) -> None:
    """The draft changes rules, not groups: at today's scores no lead changes group, while
    its replay finds two that would. The page says why both are true and where to look."""
    client = logged_in(marketing_user())
    publish = f"/admin/scoring/modelversion/{version.pk}/publish/"
    before = html.unescape(client.get(publish).content.decode())
    assert "No lead changes group at today's scores" in before
    assert "not counted here: the rescore after publishing applies them" in before
    assert "No replay of this draft yet" in before
    assert f'href="/admin/scoring/replayrun/add/?version={version.pk}"' in before

    # Started, not finished: the page points to it rather than saying there is none.
    queued = services.replay_start(version=version, background=False)
    waiting = html.unescape(client.get(publish).content.decode())
    assert "A replay of this draft is under way" in waiting
    assert f'href="/admin/scoring/replayrun/{queued.pk}/change/">Follow its progress' in waiting
    assert "No replay of this draft yet" not in waiting

    run = services.replay_run(run_id=queued.pk)
    after = " ".join(html.unescape(client.get(publish).content.decode()).split())
    assert "No lead changes group at today's scores" in after
    assert "the interactions of the last 90 days" in after
    assert "<strong>2</strong> of 6 leads would end in another group under this draft" in after
    assert f'href="/admin/scoring/replayrun/{run.pk}/change/"' in after
    assert "changed after that replay" not in after
    spanish = logged_in(marketing_user())
    spanish.defaults["HTTP_ACCEPT_LANGUAGE"] = "es-CR,es;q=0.9"
    leido = " ".join(html.unescape(spanish.get(publish).content.decode()).split())
    assert "Leads que cambiarían de grupo con las puntuaciones de hoy" in leido
    assert "<strong>2</strong> de 6 leads acabarían en otro grupo con este borrador" in leido
    assert "Los dos recuentos miden cosas distintas" in leido

    # Edited after the replay: its figure no longer describes the draft, and the page says so.
    ScoringRule.all_versions.filter(version=version, key="forms").update(points=45)
    assert "This draft or the live model changed after that replay" in html.unescape(
        client.get(publish).content.decode()
    )


def test_the_publish_page_reads_a_big_count_grouped_and_a_one_day_replay_in_the_singular(
    version: ModelVersion,
) -> None:
    run = services.replay_run(run_id=services.replay_start(version=version, days=1, background=False).pk)
    ReplayRun.objects.filter(pk=run.pk).update(result={**run_result(run.pk), "leads": 12345})
    publish = f"/admin/scoring/modelversion/{version.pk}/publish/"
    page = " ".join(html.unescape(logged_in(marketing_user()).get(publish).content.decode()).split())
    assert "scored the interactions of the last day afresh" in page
    assert "</strong> of 12,345 leads would end in another group under this draft" in page
    spanish = logged_in(marketing_user())
    spanish.defaults["HTTP_ACCEPT_LANGUAGE"] = "es-CR,es;q=0.9"
    leido = " ".join(html.unescape(spanish.get(publish).content.decode()).split())
    assert "puntuó de nuevo las interacciones del último día" in leido
    assert "</strong> de 12.345 leads acabarían en otro grupo con este borrador" in leido


def test_a_spanish_reader_reads_no_group_in_spanish(version: ModelVersion) -> None:
    run = services.replay_start(version=version, background=False)
    services.replay_run(run_id=run.pk)
    rows = run_result(run.pk)["groups"]
    assert isinstance(rows, list)
    assert "" in {row["key"] for row in rows}  # some leads are below every group
    client = logged_in(marketing_user())
    page = client.get(f"/admin/scoring/replayrun/{run.pk}/change/", headers={"accept-language": "es"})
    shown = html.unescape(page.content.decode())
    assert "<td>Sin grupo</td>" in shown
    assert "No group" not in shown
    # The rules' table heads the difference of points, not a button's "Cambiar".
    assert '<th class="num">Cambio</th>' in shown


def test_a_spanish_reader_reads_why_a_replay_failed_in_spanish(version: ModelVersion) -> None:
    run = services.replay_start(version=version, background=False)
    # Its frozen version no longer reads as a model (a model file's form changed since it was queued).
    ReplayRun.objects.filter(pk=run.pk).update(draft_spec={"leadflow_model": 1, "rules": [{"key": "x"}]})
    older = services.replay_start(version=version, background=False)
    ReplayRun.objects.filter(pk=older.pk).update(status=ReplayRun.Status.FAILED, error="stored before, in English")
    spanish_reader = Client(headers={"accept-language": "es"})
    spanish_reader.force_login(marketing_user())

    failed = services.replay_run(run_id=run.pk)
    page = html.unescape(spanish_reader.get(f"/admin/scoring/replayrun/{run.pk}/change/").content.decode())
    older_page = html.unescape(spanish_reader.get(f"/admin/scoring/replayrun/{older.pk}/change/").content.decode())

    assert failed.status == ReplayRun.Status.FAILED
    assert failed.error == "rules[0].name: required; rules[0].dimension: required"  # the English kept
    assert (
        "La reproducción falló: rules[0].name: falta, y es obligatorio; rules[0].dimension: falta, y es obligatorio"
        in page
    )
    assert "required" not in page
    assert "stored before, in English" in older_page


def test_a_problem_with_a_value_json_cannot_keep_is_kept_as_its_english() -> None:
    problems = [
        Problem("{place}: required", place="rules[0].name"),
        Problem("{place}: not {value!r}", place="rules[0].valid_from", value=date(2026, 1, 1)),
    ]

    stored = json.loads(json.dumps(sentences.problems_said(problems).stored()))

    with translation.override("es"):
        assert sentences.shown("", stored) == (
            "rules[0].name: falta, y es obligatorio; rules[0].valid_from: not datetime.date(2026, 1, 1)"
        )
