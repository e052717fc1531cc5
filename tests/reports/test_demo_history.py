"""The toy store's demo history: played through the services day by day, deterministic for
a seed, idempotent, and loaded by bin/run only on a first run of the embedded defaults."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Avg, Q, Sum
from django.utils import timezone

from nurture.models import Delivery, Enrollment
from reports import demo_history
from reports import demo_plan as plan
from routing.models import Outcome, QueueItem
from scoring.event_types import BUILT_IN
from scoring.models import Account, DecayRun, GroupTransition, Interaction, Lead, ScoreEntry
from tests.routing.test_model_file import toy_store_import

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def load(*args: str) -> str:
    out = StringIO()
    call_command("demo_history", *args, stdout=out)
    return out.getvalue()


def ledger_mismatches() -> list[str]:
    """Leads whose cached scores differ from their ledger's sums."""
    sums = {
        row["lead_id"]: row
        for row in ScoreEntry.objects.values("lead_id").annotate(
            fit=Sum("delta", filter=Q(dimension="fit")), engagement=Sum("delta", filter=Q(dimension="engagement"))
        )
    }
    wrong = []
    for pk, fit, engagement, total in Lead.objects.values_list("pk", "fit_score", "engagement_score", "total_score"):
        row = sums.get(pk, {})
        if (fit, engagement, total) != (row.get("fit") or 0, row.get("engagement") or 0, fit + engagement):
            wrong.append(f"lead {pk}: cached {fit}/{engagement}/{total}, ledger {row}")
    return wrong


def test_a_month_of_history_through_the_services_and_a_second_run_changes_nothing() -> None:
    toy_store_import()
    output = load("--leads", "300", "--days", "30", "--seed", "1")
    assert "Demo history loaded" in output

    today = timezone.localdate()
    assert Lead.objects.filter(external_id__startswith="demo-").count() == 300
    # Interactions over the days (each as it happened), of every built-in type.
    days = {timezone.localtime(at).date() for at in Interaction.objects.values_list("occurred_at", flat=True)}
    assert len(days) >= 25
    assert min(days) >= today - timedelta(days=30)
    assert max(days) < today
    assert set(Interaction.objects.values_list("type", flat=True)) == set(BUILT_IN)
    # Scoring, routing and decay ran on the history's days, not all at the time of loading.
    transitions = GroupTransition.objects.filter(kind=GroupTransition.Kind.SCORE)
    assert transitions.filter(direction="up").exists()
    decayed = ScoreEntry.objects.filter(cause="decay").values_list("occurred_at", flat=True)
    assert decayed
    assert max(decayed) < timezone.now() - timedelta(hours=12)
    assert len({timezone.localtime(at).date() for at in transitions.values_list("occurred_at", flat=True)}) >= 10
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()
    assert DecayRun.objects.count() == 30
    # Routed to the sales queue, nurtured, worked by the personal shoppers.
    assert QueueItem.objects.exists()
    assert Enrollment.objects.filter(sequence__key="nurture").exists()
    assert Delivery.objects.filter(status=Delivery.Status.SENT).exists()
    assert Interaction.objects.filter(type="email_open", properties__has_key="delivery").exists()
    kinds = set(Outcome.objects.values_list("kind", flat=True))
    assert {"claimed", "accepted", "rejected", "qualified", "disqualified", "won", "lost"} <= kinds
    assert (
        Outcome.objects.filter(kind="rejected").exclude(reason="").count()
        == Outcome.objects.filter(kind="rejected").count()
    )
    # Those sales won had higher scores than those it lost: the score works.
    won = Outcome.objects.filter(kind="won").aggregate(avg=Avg("total_score"))["avg"]
    lost = Outcome.objects.filter(kind="lost").aggregate(avg=Avg("total_score"))["avg"]
    assert won > lost
    # Won leads are customers; rejected and disqualified ones went to long-term nurture.
    won_leads = Outcome.objects.filter(kind="won").values_list("lead_id", flat=True)
    assert set(Lead.objects.filter(pk__in=won_leads).values_list("lifecycle_stage", flat=True)) == {"customer"}
    turned_down = Outcome.objects.filter(kind__in=["rejected", "disqualified"]).values_list("lead_id", flat=True)
    assert Enrollment.objects.filter(lead_id__in=turned_down, sequence__key="long-term").exists()
    assert ledger_mismatches() == []

    before = demo_history.counts()
    again = load("--leads", "300", "--days", "30", "--seed", "1")
    assert demo_history.counts() == before
    assert "Nothing to add" in again


def snapshot() -> dict[str, object]:
    return {
        "leads": sorted(
            Lead.objects.values_list("external_id", "email", "total_score", "score_group__key", "lifecycle_stage")
        ),
        "interactions": sorted(Interaction.objects.values_list("idempotency_key", "type", "occurred_at")),
        "outcomes": sorted(Outcome.objects.values_list("lead__external_id", "kind", "reason", "total_score", "at")),
    }


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    toy_store_import()
    load("--leads", "80", "--days", "20", "--seed", "7")
    first = snapshot()
    Lead.objects.all().delete()
    DecayRun.objects.all().delete()
    load("--leads", "80", "--days", "20", "--seed", "7")
    assert snapshot() == first
    assert ledger_mismatches() == []

    a = plan.lead_plan(seed=7, number=5, days=20)
    assert plan.lead_plan(seed=8, number=5, days=20) != a
    # A lead is the same lead whatever the history's size.
    assert plan.lead_plan(seed=7, number=5, days=20, weights=plan.arrival_weights(20)) == a


def test_the_demo_leads_fall_into_many_accounts_at_addresses_no_mailbox_has() -> None:
    """Every demo lead was at example.com, so the demo had one account of all its leads."""
    toy_store_import()
    load("--leads", "120", "--days", "5", "--seed", "1")

    leads = Lead.objects.filter(external_id__startswith="demo-")
    per_account = Counter(leads.exclude(account=None).values_list("account__domain", flat=True))
    assert len(per_account) >= 10
    assert max(per_account.values()) >= 5  # an employer or a school of several leads
    assert min(per_account.values()) == 1  # and businesses of one
    # Those at the demo's free-mail providers belong to no account.
    free = leads.filter(account=None).values_list("email", flat=True)
    assert free
    assert {(email or "").rpartition("@")[2] for email in free} <= set(plan.FREE_MAIL)
    # Every address is under .example, a name reserved for examples (RFC 2606).
    assert all((email or "").endswith(".example") for email in leads.values_list("email", flat=True))
    # A school's account holds its teachers.
    school = Account.objects.get(domain="colegio-monterrey.example")
    assert set(school.leads.values_list("company", "title")) == {("Colegio Monterrey", "Teacher")}


def test_it_refuses_without_the_toy_store_or_with_bad_sizes() -> None:
    with pytest.raises(CommandError, match=r"toy_store\.yaml"):
        load("--leads", "10", "--days", "5")
    toy_store_import()
    with pytest.raises(CommandError, match="leads: give at least 1"):
        load("--leads", "0")
    with pytest.raises(CommandError, match="days: give 1 to 3650"):
        load("--days", "0")
    assert not Lead.objects.exists()


def test_a_first_run_loads_it_only_on_an_empty_embedded_database(monkeypatch: pytest.MonkeyPatch) -> None:
    toy_store_import()
    monkeypatch.setenv("DATABASE_URL", "postgres://leadflow@db.example/leadflow")
    assert "DATABASE_URL is set" in load("--first-run", "--leads", "20", "--days", "5")
    assert not Lead.objects.exists()

    monkeypatch.delenv("DATABASE_URL")
    Lead.objects.create(email="someone@example.com")
    assert "has leads already" in load("--first-run", "--leads", "20", "--days", "5")
    assert Lead.objects.count() == 1

    Lead.objects.all().delete()
    assert "Demo history loaded" in load("--first-run", "--leads", "20", "--days", "5")
    assert Lead.objects.filter(external_id__startswith="demo-").count() == 20


def test_bin_run_asks_for_it_after_loading_the_toy_store() -> None:
    run = [line.strip() for line in (ROOT / "bin" / "run").read_text().splitlines()]
    first_model = [line.strip() for line in (ROOT / "bin" / "_first_model.sh").read_text().splitlines()]
    demo = next(i for i, line in enumerate(first_model) if line.startswith("python manage.py demo_history"))
    assert "--first-run" in first_model[demo]
    assert '--leads "${LEADFLOW_DEMO_LEADS:-3000}"' in first_model[demo]
    assert demo > max(i for i, line in enumerate(first_model) if "toy_store_routing.yaml" in line)
    # Before the worker and the web server start.
    loaded = run.index("source bin/_first_model.sh")
    assert loaded < min(i for i, line in enumerate(run) if line.startswith("celery "))
