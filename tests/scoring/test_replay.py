"""Replaying a draft over the last N days beside the live model: the figures on a small
history checked by hand, nothing live touched, cancelling, running twice, and a result
that does not depend on how the leads are split into chunks."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import services as routing
from routing.models import ActionRun, Outcome, QueueItem
from scoring import decay, model_file, services
from scoring import replay as pure_replay
from scoring import rules as pure
from scoring.models import GroupTransition, Lead, ModelVersion, ReplayRun, ScoreEntry, ScoreGroup
from scoring.services import versions
from tests.factories import InteractionFactory, LeadFactory
from tests.routing.factories import TeamFactory, rule

GROUPS = [{"key": "warm", "name": "Warm", "min_score": 40}, {"key": "hot", "name": "Hot", "min_score": 80}]
FIT = {
    "key": "toys",
    "name": "Toy industry",
    "dimension": "fit",
    "points": 30,
    "conditions": [{"field": "industry", "operator": "equals", "value": "Toys"}],
}


def model(opens: dict[str, Any], forms: int) -> dict[str, Any]:
    return {
        "leadflow_model": 1,
        "score_groups": GROUPS,
        "rules": [
            FIT,
            {"key": "opens", "name": "Email opens", "dimension": "engagement", "interaction_types": ["email_open"]}
            | opens,
            {
                "key": "forms",
                "name": "Forms",
                "dimension": "engagement",
                "points": forms,
                "interaction_types": ["form_submit"],
            },
        ],
    }


LIVE = model({"points": 10, "cap": {"count": 3}}, 20)
DRAFT = model({"points": 5}, 40)


def history() -> dict[str, Lead]:
    """Six leads (see the table in test_figures_on_a_small_history_checked_by_hand)."""
    services.scoring_model_import(spec=model_file.load_data(LIVE))
    now = timezone.now()
    leads = {name: LeadFactory.create(email=f"{name}@example.com") for name in "abcdef"}
    for name in "acd":
        leads[name].industry = "Toys"
        leads[name].save(update_fields=["industry"])
    plan = {"a": "oooof", "b": "oo", "c": "f", "d": "ff", "e": "ff", "f": "fooo"}
    for name, kinds in plan.items():
        for n, kind in enumerate(kinds):
            InteractionFactory.create(
                lead=leads[name],
                type="email_open" if kind == "o" else "form_submit",
                occurred_at=now - timedelta(days=10 + n),
            )
    # Outside the 90-day window: counts for neither model.
    InteractionFactory.create(lead=leads["b"], type="form_submit", occurred_at=now - timedelta(days=100))
    for name, kind in {"a": "won", "b": "lost", "c": "won", "d": "disqualified", "e": "won"}.items():
        Outcome.objects.create(lead=leads[name], kind=kind, total_score=0, at=now - timedelta(days=1))
    return leads


def draft() -> ModelVersion:
    return versions.draft_import(spec=model_file.load_data(DRAFT), user=None, name="forms matter more")


def replayed(version: ModelVersion, *, days: int = 90, chunk_size: int = 5000) -> ReplayRun:
    run = services.replay_start(version=version, days=days, background=False)
    return services.replay_run(run_id=run.pk, chunk_size=chunk_size)


@pytest.mark.django_db
def test_figures_on_a_small_history_checked_by_hand() -> None:
    # lead  fit  interactions in 90 days   live (opens 10 capped 3x, forms 20)   draft (opens 5, forms 40)  outcome
    # a     30   4 opens, 1 form           30+30+20 = 80 Hot                     30+20+40 = 90 Hot          won
    # b      0   2 opens (a form 100d ago) 20 none                               10 none                    lost
    # c     30   1 form                    50 Warm                               70 Warm                    won
    # d     30   2 forms                   70 Warm                               110 Hot                    disqualified
    # e      0   2 forms                   40 Warm                               80 Hot                     won
    # f      0   1 form, 3 opens           50 Warm                               55 Warm                    -
    leads = history()
    run = replayed(draft(), chunk_size=2)
    assert run.status == ReplayRun.Status.DONE
    assert run.progress == 100
    result = run.result
    assert result is not None
    assert result["leads"] == 6
    assert [(g["name"], g["live"], g["draft"]) for g in result["groups"]] == [
        ("No group", 1, 1),
        ("Warm", 4, 2),
        ("Hot", 1, 3),
    ]
    assert [(m["from_name"], m["to_name"], m["leads"]) for m in result["moves"]] == [("Warm", "Hot", 2)]
    assert [(s["email"], s["live_total"], s["draft_total"]) for s in result["sample"]] == [
        ("d@example.com", 70, 110),
        ("e@example.com", 40, 80),
    ]
    assert result["sample"][0]["lead_id"] == leads["d"].pk
    live, replay = result["conversion"]["live"], result["conversion"]["draft"]
    assert [(r["name"], r["won"], r["lost"]) for r in live] == [("No group", 0, 1), ("Warm", 2, 1), ("Hot", 1, 0)]
    assert [(r["name"], r["won"], r["lost"]) for r in replay] == [("No group", 0, 1), ("Warm", 1, 0), ("Hot", 2, 1)]
    assert live[1]["rate"] == 66.7
    # Live: won 80, 50, 40 against lost 70, 20: 80>both, 50>20, 40>20 = 4 of 6 pairs.
    assert result["separation"]["live"]["auc"] == pytest.approx(4 / 6, abs=1e-4)
    # Draft: won 90, 70, 80 against lost 110, 10: each beats only 10 = 3 of 6.
    assert result["separation"]["draft"]["auc"] == 0.5
    assert result["separation"]["live"]["points"] == [
        [0, 0],
        [0, 0.3333],
        [0.5, 0.3333],
        [0.5, 0.6667],
        [0.5, 1],
        [1, 1],
    ]
    assert [(r["key"], r["live"], r["draft"]) for r in result["rules"]] == [
        ("forms", 140, 280),
        ("opens", 80, 45),
        ("toys", 90, 90),
    ]


@pytest.mark.django_db
def test_a_rule_neither_model_has_active_is_not_listed_among_the_rules_points() -> None:
    """An earlier model's rules stay in both models, inactive, for their history (the toy
    store's eight under a company's own model): a row of 0 and 0 for each of them buried the
    rules that do change, and two of the same name could not be told apart."""
    retired = {
        "key": "retired-opens",
        "name": "Email opens",
        "dimension": "engagement",
        "points": 7,
        "interaction_types": ["email_open"],
        "active": False,
    }
    services.scoring_model_import(spec=model_file.load_data({**LIVE, "rules": [*LIVE["rules"], retired]}))
    lead = LeadFactory.create()
    InteractionFactory.create(lead=lead, type="email_open", occurred_at=timezone.now() - timedelta(days=1))
    version = versions.draft_import(
        spec=model_file.load_data({**DRAFT, "rules": [*DRAFT["rules"], retired]}), user=None, name="opens"
    )
    result = replayed(version).result
    assert result is not None
    assert [(r["key"], r["live"], r["draft"]) for r in result["rules"]] == [
        ("opens", 10, 5),
        ("forms", 0, 0),
        ("toys", 0, 0),
    ]


@pytest.mark.django_db
def test_a_replay_leaves_live_scores_ledger_transitions_and_routing_untouched() -> None:
    history()
    team = TeamFactory.create()
    rule("enters_group", {"kind": "route_to_queue", "team": team}, group=ScoreGroup.objects.get(key="warm"))
    services.interactions_score_pending()
    routing.transitions_route()

    def snapshot() -> dict[str, list[Any]]:
        return {
            "leads": list(
                Lead.objects.order_by("pk").values_list(
                    "pk", "fit_score", "engagement_score", "score_group_id", "engagement_base", "engagement_base_at"
                )
            ),
            "ledger": list(ScoreEntry.objects.order_by("pk").values()),
            "transitions": list(GroupTransition.objects.order_by("pk").values()),
            "actions": list(ActionRun.objects.order_by("pk").values()),
            "queue": list(QueueItem.objects.order_by("pk").values()),
        }

    before = snapshot()
    assert before["ledger"]
    assert before["transitions"]
    assert before["queue"]
    run = replayed(draft())
    assert run.status == ReplayRun.Status.DONE
    assert run.result is not None
    assert run.result["moved"] == 2
    routing.transitions_route()
    assert snapshot() == before


@pytest.mark.django_db
def test_running_a_replay_twice_gives_the_same_result() -> None:
    history()
    run = replayed(draft())
    first = run.result
    assert services.replay_run(run_id=run.pk).result == first  # a finished run is left as it is
    # A run a lost worker left half-way runs again from the start, to the same result, even
    # after new interactions and a changed live model: both were frozen when it was started.
    ReplayRun.objects.filter(pk=run.pk).update(status=ReplayRun.Status.RUNNING, result=None, progress=40)
    InteractionFactory.create(lead=Lead.objects.first(), type="form_submit", occurred_at=timezone.now())
    services.scoring_model_import(spec=model_file.load_data(DRAFT))
    again = services.replay_run(run_id=run.pk, chunk_size=1)
    assert again.status == ReplayRun.Status.DONE
    assert again.result == first


@pytest.mark.django_db
def test_a_cancelled_replay_stops_and_keeps_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    history()
    version = draft()
    queued = services.replay_start(version=version, background=False)
    assert services.replay_cancel(run_id=queued.pk).status == ReplayRun.Status.CANCELLED
    assert services.replay_run(run_id=queued.pk).status == ReplayRun.Status.CANCELLED

    running = services.replay_start(version=version, background=False)
    seen: list[int] = []
    original = pure_replay.compare

    def compare_then_cancel(*args: Any) -> pure_replay.Comparison:
        # The marketer presses Cancel while the first chunk is being scored.
        seen.append(len(args[2]))
        if len(seen) == 1:
            services.replay_cancel(run_id=running.pk)
        return original(*args)

    monkeypatch.setattr(pure_replay, "compare", compare_then_cancel)
    done = services.replay_run(run_id=running.pk, chunk_size=2)
    assert seen == [2]  # it stopped after the chunk it was in
    assert done.status == ReplayRun.Status.CANCELLED
    assert done.result is None
    assert done.finished_at is not None


@pytest.mark.django_db
def test_bad_days_and_a_broken_version_are_refused_with_the_field() -> None:
    history()
    with pytest.raises(ValueError, match=r"^days: "):
        services.replay_start(version=draft(), days=0, background=False)
    broken = ModelVersion.objects.create(
        status=ModelVersion.Status.RETIRED, number=99, spec={"leadflow_model": 1, "rules": [{"key": "x"}]}
    )
    with pytest.raises(ValueError, match=r"^version: This version cannot be replayed: rules\[0\]"):
        services.replay_start(version=broken, background=False)
    assert not ReplayRun.objects.exists()


@pytest.mark.django_db
def test_a_draft_copied_from_the_live_model_replays_as_the_live_model() -> None:
    history()
    result = replayed(versions.draft_create(user=None, name="unchanged copy")).result
    assert result is not None
    assert result["moved"] == 0
    assert all(g["live"] == g["draft"] for g in result["groups"])
    assert result["separation"]["live"] == result["separation"]["draft"]


@pytest.mark.django_db
def test_the_command_replays_a_version_and_prints_the_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    history()
    version = draft()
    call_command("scoring_replay", str(version.pk), "--days", "90")
    out = capsys.readouterr().out
    assert "6 leads over 90 days" in out
    assert "Hot: live 1, replayed 3" in out
    assert "leads that would move: 2" in out
    with pytest.raises(CommandError, match="days: Give a whole number of days from 1"):
        call_command("scoring_replay", str(version.pk), "--days", "0")
    with pytest.raises(CommandError, match="no model version 999999"):
        call_command("scoring_replay", "999999")


@pytest.mark.django_db
def test_on_a_spanish_installation_the_command_prints_the_comparison_in_spanish(
    capsys: pytest.CaptureFixture[str], settings: Any
) -> None:
    settings.LANGUAGE_CODE = "es"
    history()
    version = draft()
    call_command("scoring_replay", str(version.pk), "--days", "90")
    out = capsys.readouterr().out
    assert ": 6 leads en 90 días\n" in out
    assert "Hot: en vigor 1, reproducido 3\n" in out
    assert "leads que cambiarían de grupo: 2\n" in out
    assert "  AUC en vigor: " in out
    assert "  AUC reproducido: " in out


# --- the pure part ----------------------------------------------------------------------

T = datetime(2026, 6, 30, 12, tzinfo=UTC)


def test_decay_is_the_nightly_decay_s_from_each_interaction() -> None:
    spec = pure_replay.spec_load(
        model({"points": 10}, 20) | {"decay": {"policy": "linear", "points_per_day": 1, "after_days": 5}}
    )
    (m,) = pure_replay.models_build(spec)
    lead = pure_replay.LeadFacts(1, "x@example.com", {})
    opens = [pure.InteractionFacts(n, 1, "email_open", T - timedelta(days=d)) for n, d in enumerate((40, 20, 8), 1)]
    score = pure_replay.leads_score(m, [lead], opens, pure_replay.Clock(T, UTC))[1]
    # 10 at day -40; by day -20 it lost 20-5 = 15 (floor 0): 0 + 10; by day -8: 12-5 = 7 days: 3 + 10 = 13;
    # by today 8-5 = 3 more: 10.
    assert score.engagement == 10
    opens_id = next(rule_id for rule_id, key in m.rule_keys.items() if key == "opens")
    assert score.points == {opens_id: 30}
    window = pure_replay.spec_load(model({"points": 10}, 20) | {"decay": {"policy": "window", "window_days": 10}})
    (w,) = pure_replay.models_build(window)
    assert pure_replay.leads_score(w, [lead], opens, pure_replay.Clock(T, UTC))[1].engagement == 10
    assert decay.Kind.WINDOW is w.policy.kind


def test_auc_counts_ties_as_half_and_needs_both_outcomes() -> None:
    curve = pure_replay.roc({(10, True): 1, (10, False): 1, (5, False): 2})
    assert curve.auc == pytest.approx((0.5 + 1 + 1) / 3)
    assert curve.points == ((0, 0), (1 / 3, 1.0), (1.0, 1.0))
    assert pure_replay.roc({(10, True): 3}).auc is None


leads_st = st.lists(
    st.tuples(st.sampled_from(["Toys", "", "Games"]), st.lists(st.tuples(st.booleans(), st.integers(0, 120)))),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads=leads_st, chunk=st.integers(1, 13), outcomes=st.lists(st.booleans(), max_size=12))
def test_how_leads_are_chunked_never_changes_the_comparison(
    leads: list[tuple[str, list[tuple[bool, int]]]], chunk: int, outcomes: list[bool]
) -> None:
    live, draft_model = pure_replay.models_build(
        pure_replay.spec_load(LIVE | {"decay": {"policy": "half_life", "half_life_days": 7}}),
        pure_replay.spec_load(DRAFT),
    )
    facts = [
        pure_replay.LeadFacts(n, f"{n}@x.example", {"industry": industry}) for n, (industry, _) in enumerate(leads, 1)
    ]
    interactions = [
        pure.InteractionFacts(100 * n + k, n, "email_open" if is_open else "form_submit", T - timedelta(days=days))
        for n, (_, events) in enumerate(leads, 1)
        for k, (is_open, days) in enumerate(events)
    ]
    closed = dict(enumerate(outcomes, 1))
    clock = pure_replay.Clock(T, UTC)
    whole = pure_replay.compare(live, draft_model, facts, interactions, closed, clock)
    pieces = pure_replay.Comparison()
    for part in pure_replay.chunks_of(facts, chunk):
        ids = {lead.id for lead in part}
        mine = [i for i in interactions if i.lead_id in ids]
        pieces.merge(pure_replay.compare(live, draft_model, part, mine, closed, clock))
    assert pure_replay.comparison_result(pieces, live, draft_model) == pure_replay.comparison_result(
        whole, live, draft_model
    )


_REAL_PART = services.replay._replay_part


def _part_noting_its_process(*args: Any) -> pure_replay.Comparison:
    """A replay's part that writes down which process ran it (into the file LEADFLOW_TEST_PIDS names)."""
    with open(os.environ["LEADFLOW_TEST_PIDS"], "a") as pids:
        pids.write(f"{os.getpid()}\n")
    return _REAL_PART(*args)


@pytest.mark.django_db(transaction=True)
def test_a_replay_split_over_processes_gives_what_one_process_gives(
    postgres: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On PostgreSQL a replay splits its leads by id over LEADFLOW_REPLAY_PROCESSES
    processes, each on its own connection; their comparisons merge into the one a single
    process makes, and the progress ends at 100."""
    history()
    for n in range(30):  # more leads, so that every process has some with moves and outcomes
        lead = LeadFactory.create(email=f"extra{n}@example.com", industry="Toys" if n % 2 else "")
        for k in range(n % 5):
            InteractionFactory.create(
                lead=lead, type="form_submit" if k % 2 else "email_open", occurred_at=timezone.now() - timedelta(days=k)
            )
    version = draft()
    monkeypatch.setattr(services.replay, "REPLAY_PROCESS_MIN", 1)
    monkeypatch.setattr(django_settings, "LEADFLOW_REPLAY_PROCESSES", 1)
    alone = replayed(version, chunk_size=4)
    # The same run again (as after a lost worker), now over three processes: this one and two forked.
    ReplayRun.objects.filter(pk=alone.pk).update(status=ReplayRun.Status.RUNNING, result=None, progress=0)
    monkeypatch.setattr(django_settings, "LEADFLOW_REPLAY_PROCESSES", 3)
    monkeypatch.setenv("LEADFLOW_TEST_PIDS", str(tmp_path / "pids"))
    monkeypatch.setattr(services.replay, "_replay_part", _part_noting_its_process)
    split = services.replay_run(run_id=alone.pk, chunk_size=4)
    assert split.status == ReplayRun.Status.DONE
    assert split.progress == 100
    spawned = (tmp_path / "pids").read_text().split()
    assert len(spawned) == 2  # two processes of their own, beside this one, which took the first range
    assert str(os.getpid()) not in spawned
    assert split.result == alone.result
    assert alone.result is not None
    assert alone.result["moved"] > 0
    assert alone.result["leads"] == 36
