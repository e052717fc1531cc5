"""A score column is a database integer: a model whose rules can give a lead more than it
holds is refused when checked, a publish whose rescore fails anyway changes nothing, and
an account's roll-up of many leads stays within its column."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.utils import translation

from scoring import model_file
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN
from scoring.models import Account, AccountEntry, Lead, ModelVersion, ScoringRule
from scoring.score_bounds import fit_past_columns
from scoring.services import accounts as account_services
from scoring.services import versions
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def fit_rules(*points: int, indent: str = "") -> str:
    rows = "".join(
        f"{indent}  - {{key: r{i}-{abs(p)}{indent and 'c'}, name: R{i}, dimension: fit, points: {p},"
        f" conditions: [{{field: city, operator: equals, value: Lima}}]}}\n"
        for i, p in enumerate(points)
    )
    return f"{indent}rules:\n{rows}"


def model_text(body: str) -> str:
    return "leadflow_model: 1\nscore_groups:\n  - {key: warm, name: Warm, min_score: 10}\n" + body


def scorecard(body: str) -> str:
    return "scorecards:\n  - key: books\n    name: Books\n" + body


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_refuses_a_scorecard_whose_fit_rules_add_up_past_the_score_column(tmp_path: Path) -> None:
    path = write(tmp_path, model_text(scorecard(fit_rules(WHOLE_MAX, WHOLE_MAX, indent="    "))))

    with pytest.raises(CommandError) as refused:
        call_command("scoring_model_import", "--check", str(path))

    message = str(refused.value)
    assert "scorecards[0] (Books)" in message
    assert f"up to {2 * WHOLE_MAX}" in message
    assert str(WHOLE_MAX) in message


def test_check_refuses_the_default_score_alike_both_ways(tmp_path: Path) -> None:
    above = fit_past_columns(model_file.load_text(model_text(fit_rules(WHOLE_MAX, 1))))
    below = fit_past_columns(model_file.load_text(model_text(fit_rules(WHOLE_MIN, -1))))

    assert [problem.split(":")[0] for problem in above + below] == ["rules", "rules"]
    assert f"up to {WHOLE_MAX + 1} points" in above[0]
    assert f"down to {WHOLE_MIN - 1} points" in below[0]
    with pytest.raises(CommandError, match=f"up to {WHOLE_MAX + 1}"):
        call_command("scoring_model_import", "--check", str(write(tmp_path, model_text(fit_rules(WHOLE_MAX, 1)))))


def test_rules_that_cannot_add_up_past_the_column_are_kept(tmp_path: Path) -> None:
    # Inactive rules give nothing; one rule at the bound alone fits.
    text = model_text(fit_rules(WHOLE_MAX, WHOLE_MIN)) + (
        "  - {key: unused, name: Unused, dimension: fit, points: 5, active: false,"
        " conditions: [{field: city, operator: equals, value: Lima}]}\n"
    )
    assert fit_past_columns(model_file.load_text(text)) == []


def test_the_refusal_is_in_spanish_for_a_spanish_speaker() -> None:
    spec = model_file.load_text(model_text(scorecard(fit_rules(WHOLE_MAX, WHOLE_MAX, indent="    "))))
    with translation.override("es"), pytest.raises(versions.VersionError) as refused:
        versions.draft_import(spec=spec, user=None)

    assert refused.value.errors == [
        f"scorecards[0] (Books): sus reglas de perfil activas pueden dar juntas a un lead hasta {2 * WHOLE_MAX} "
        f"puntos, más de los {WHOLE_MAX} que caben en una puntuación; baja sus puntos"
    ]
    assert not ModelVersion.objects.exists()


def test_publishing_a_draft_past_the_column_is_refused_and_changes_nothing(postgres: None, tmp_path: Path) -> None:
    call_command("scoring_model_import", "--publish", str(write(tmp_path, model_text(fit_rules(5, 6)))))
    live = versions.live_version()
    draft = versions.draft_create(user=None)  # then edited, as in the admin
    ScoringRule.all_versions.filter(version=draft).update(points=WHOLE_MAX)

    with pytest.raises(versions.VersionError) as refused:
        versions.version_publish(draft=draft, user=None)

    assert any(f"up to {2 * WHOLE_MAX}" in e for e in refused.value.errors)
    assert versions.live_version() == live
    assert ModelVersion.objects.get(pk=draft.pk).status == ModelVersion.Status.DRAFT


def test_a_publish_whose_rescore_fails_leaves_the_previous_model_live(postgres: None, tmp_path: Path) -> None:
    # A lead already near the column's top: ten more fit points take its total past it,
    # which no check of the file can know.
    call_command("scoring_model_import", "--publish", str(write(tmp_path, model_text(fit_rules(1)))))
    first = ModelVersion.objects.get(status=ModelVersion.Status.LIVE)
    lead = LeadFactory.create(city="Lima")
    Lead.objects.filter(pk=lead.pk).update(engagement_score=WHOLE_MAX - 5)
    versions_before = list(ModelVersion.objects.order_by("pk").values_list("pk", "status", "number"))
    rules_before = list(ScoringRule.objects.order_by("pk").values_list("key", "points"))

    for _ in range(2):
        with pytest.raises(CommandError) as failed:
            call_command("scoring_model_import", "--publish", str(write(tmp_path, model_text(fit_rules(10)))))
        assert "nothing was imported" in str(failed.value)
        assert "Traceback" not in str(failed.value)

    assert list(ModelVersion.objects.order_by("pk").values_list("pk", "status", "number")) == versions_before
    assert ModelVersion.objects.get(status=ModelVersion.Status.LIVE) == first
    assert list(ScoringRule.objects.order_by("pk").values_list("key", "points")) == rules_before


@pytest.mark.parametrize("fit", [0, 100, -100])
def test_an_accounts_sum_of_many_leads_stays_within_its_column(fit: int) -> None:
    # On PostgreSQL the sum was refused by the database; elsewhere it was kept past the column.
    account = Account.objects.create(name="Big", domain="big.example", fit_score=fit)
    leads = LeadFactory.create_batch(3, account=account)
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(engagement_score=WHOLE_MAX - 1)

    account_services.accounts_refresh(account_ids=[account.pk])

    account.refresh_from_db()
    assert account.lead_score == WHOLE_MAX - max(fit, 0)
    assert account.total_score == min(WHOLE_MAX, WHOLE_MAX + fit)
    rolled_up = account.entries.filter(dimension=AccountEntry.Dimension.LEADS).aggregate(s=Sum("delta"))["s"]
    assert rolled_up == account.lead_score


def _ledger(account: Account, dimension: str) -> int:
    return account.entries.filter(dimension=dimension).aggregate(s=Sum("delta"))["s"] or 0


@pytest.mark.parametrize(
    ("engagement", "points"),
    [
        (WHOLE_MAX - 1, 100),  # a fit rule added later, on a roll-up at the column's top
        (WHOLE_MIN + 1, -100),  # and at its bottom
        (1_000, WHOLE_MAX - 5),  # a large fit on an account with a few points rolled up
        (-1_000, WHOLE_MIN + 5),
    ],
)
def test_an_accounts_total_stays_within_its_column_when_its_fit_rises_past_it(engagement: int, points: int) -> None:
    # On PostgreSQL the fit was refused by the database (its total is a generated column);
    # elsewhere the total was kept past the column.
    account = Account.objects.create(name="Big", domain="big.example", industry="Toys")
    leads = LeadFactory.create_batch(3, account=account)
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(engagement_score=engagement)
    account_services.accounts_refresh(account_ids=[account.pk])
    account.refresh_from_db()
    rolled_up = account.lead_score
    assert rolled_up == max(WHOLE_MIN, min(WHOLE_MAX, 3 * engagement))

    rule = account_services.account_rule_create(
        name="Toys", points=points, match="all", conditions=[("industry", "equals", "Toys")]
    )
    account_services.accounts_rescore_fit(account_ids=[account.pk])

    account.refresh_from_db()
    assert account.fit_score == points
    assert account.total_score == max(WHOLE_MIN, min(WHOLE_MAX, rolled_up + points))
    assert account.lead_score == account.total_score - points
    assert _ledger(account, AccountEntry.Dimension.LEADS) == account.lead_score
    assert _ledger(account, AccountEntry.Dimension.FIT) == account.fit_score
    assert account_services.accounts_refresh(account_ids=[account.pk]) == 0, "the sweep agrees"

    # Without the rule the roll-up comes back whole.
    rule.active = False
    rule.save(update_fields=["active"])
    account_services.accounts_rescore_fit(account_ids=[account.pk])
    account.refresh_from_db()
    assert (account.fit_score, account.lead_score, account.total_score) == (0, rolled_up, rolled_up)
    assert _ledger(account, AccountEntry.Dimension.LEADS) == rolled_up
