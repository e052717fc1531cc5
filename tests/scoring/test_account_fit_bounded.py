"""An account's fit is a database integer too: account fit rules whose points may add up
past it are refused in the model file (``--check`` and its import, nothing written) and in
the admin, as a lead's fit rules are in the file, instead of failing the account's scoring
(the database refused the fit on PostgreSQL); also when two are saved at once."""

from __future__ import annotations

import html
from functools import partial
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from scoring import model_file, score_bounds, services
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN
from scoring.models import Account, AccountRule, ModelVersion, ScoringRule
from tests.conftest import FirstCheckWaits, at_once, wait_for
from tests.scoring.test_account_rule_conditions import rule_post

pytestmark = pytest.mark.django_db

SCORING = (
    "score_groups:\n  - {key: warm, name: Warm, min_score: 10}\n"
    "rules:\n  - {key: lima, name: Lima, dimension: fit, points: 5,"
    " conditions: [{field: city, operator: equals, value: Lima}]}\n"
)


def accounts_text(*points: int, active: bool = True) -> str:
    rows = "".join(
        f"    - {{key: toys-{n}, name: Toys {n}, points: {p}, active: {str(active).lower()},"
        f" conditions: [{{field: industry, operator: equals, value: Toys}}]}}\n"
        for n, p in enumerate(points)
    )
    return f"accounts:\n  rollup: sum\n  rules:\n{rows}"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text("leadflow_model: 1\n" + text, encoding="utf-8")
    return path


def test_check_refuses_account_fit_rules_adding_up_past_the_fit_column(tmp_path: Path) -> None:
    path = write(tmp_path, accounts_text(WHOLE_MAX, WHOLE_MAX))

    with pytest.raises(CommandError) as refused:
        call_command("scoring_model_import", "--check", str(path))

    message = str(refused.value)
    assert "accounts.rules: its active account fit rules together may give an account up to" in message
    assert f"up to {2 * WHOLE_MAX} points, past the {WHOLE_MAX}" in message


@pytest.mark.parametrize("scoring", ["", SCORING], ids=["accounts-only", "with-scoring-part"])
def test_importing_them_is_refused_and_writes_nothing(tmp_path: Path, scoring: str) -> None:
    path = write(tmp_path, scoring + accounts_text(WHOLE_MAX, WHOLE_MAX))

    with pytest.raises(CommandError, match=f"up to {2 * WHOLE_MAX} points"):
        call_command("scoring_model_import", "--publish", str(path))

    assert not AccountRule.objects.exists()
    assert not ModelVersion.objects.exists()
    assert not ScoringRule.all_versions.exists()


def test_both_ways_and_only_active_rules_count() -> None:
    def problems(text: str) -> list[str]:
        spec = model_file.load_text("leadflow_model: 1\n" + text)
        return score_bounds.account_fit_past_column(spec)

    below = problems(accounts_text(WHOLE_MIN, -1))
    assert len(below) == 1
    assert f"down to {WHOLE_MIN - 1} points, past the {WHOLE_MIN}" in below[0]
    assert problems(accounts_text(WHOLE_MAX, WHOLE_MIN)) == []
    assert problems(accounts_text(WHOLE_MAX, 1, active=False)) == []
    assert problems(SCORING) == []  # no accounts part


def test_the_refusal_is_in_spanish_for_a_spanish_speaker() -> None:
    spec = model_file.load_text("leadflow_model: 1\n" + accounts_text(WHOLE_MAX, WHOLE_MAX))

    with translation.override("es"), pytest.raises(model_file.ModelFileError) as refused:
        services.scoring_model_import(spec=spec)

    assert refused.value.errors == [
        f"accounts.rules: sus reglas de perfil de cuenta activas pueden dar juntas a una cuenta hasta "
        f"{2 * WHOLE_MAX} puntos, más de los {WHOLE_MAX} que caben en el perfil de una cuenta; baja sus puntos"
    ]


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def test_the_admin_refuses_a_rule_taking_the_active_rules_past_the_column(admin: Client) -> None:
    services.account_rule_create(name="Toys", points=WHOLE_MAX, conditions=[("industry", "equals", "Toys")])
    condition = ("industry", "equals", "Toys")

    refused = admin.post(reverse("admin:scoring_accountrule_add"), rule_post(condition, points=str(WHOLE_MAX)))

    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert list(errors) == ["points"]
    said = html.unescape(refused.content.decode())
    assert f"could give an account up to {2 * WHOLE_MAX} points, past the {WHOLE_MAX}" in said
    assert AccountRule.objects.count() == 1

    # Inactive, it adds nothing; activating it later is refused alike.
    kept = admin.post(reverse("admin:scoring_accountrule_add"), rule_post(condition, points=str(WHOLE_MAX), active=""))
    assert kept.status_code == 302
    second = AccountRule.objects.get(key="toy-makers-in-spain")
    change = reverse("admin:scoring_accountrule_change", args=[second.pk])
    data = rule_post(condition, points=str(WHOLE_MAX)) | {"conditions-INITIAL_FORMS": "0"}
    assert admin.post(change, data).status_code == 200
    assert not AccountRule.objects.get(pk=second.pk).active


def test_the_admin_says_it_in_spanish_and_the_service_refuses_alike(admin: Client) -> None:
    services.account_rule_create(name="Low", points=WHOLE_MIN, conditions=[("industry", "equals", "Toys")])

    with pytest.raises(ValidationError) as refused:
        services.account_rule_create(name="Lower", points=-1, conditions=[("industry", "equals", "Toys")])
    assert f"down to {WHOLE_MIN - 1} points" in " ".join(refused.value.message_dict["points"])

    said = admin.post(
        reverse("admin:scoring_accountrule_add"),
        rule_post(("industry", "equals", "Toys"), points="-1"),
        HTTP_ACCEPT_LANGUAGE="es-CR,es;q=0.9",
    )
    assert f"podrían dejar juntas a una cuenta en {WHOLE_MIN - 1} puntos" in html.unescape(said.content.decode())
    assert AccountRule.objects.count() == 1


def test_an_account_is_scored_with_the_rules_kept_on_postgresql(postgres: None, tmp_path: Path) -> None:
    # Before, the file was imported and scoring the account failed: the database refused its fit.
    account = Account.objects.create(name="Toys", domain="toys.example", industry="Toys")
    with pytest.raises(CommandError):
        call_command("scoring_model_import", str(write(tmp_path, accounts_text(WHOLE_MAX, WHOLE_MAX))))
    call_command("scoring_model_import", str(write(tmp_path, accounts_text(WHOLE_MAX - 1, 1))))

    services.accounts_rescore_fit(account_ids=[account.pk])

    account.refresh_from_db()
    assert (account.fit_score, account.total_score) == (WHOLE_MAX, WHOLE_MAX)


# --- two saves at once (PostgreSQL) ----------------------------------------------------

TOYS = ("industry", "equals", "Toys")


def active_points() -> list[int]:
    return sorted(AccountRule.objects.filter(active=True).values_list("points", flat=True))


@pytest.mark.django_db(transaction=True)
def test_two_rules_added_at_once_in_the_admin_cannot_together_pass_the_column(
    postgres: None, admin_user: Any, first_check_waits: FirstCheckWaits
) -> None:
    # Each fits beside the rule kept; both together do not.
    services.account_rule_create(name="Toys", points=WHOLE_MAX - 10, conditions=[TOYS])
    clients = [Client(HTTP_HOST="localhost") for _ in range(2)]
    for client in clients:
        client.force_login(admin_user)

    def add(client: Client, key: str) -> int:
        return int(
            client.post(reverse("admin:scoring_accountrule_add"), rule_post(TOYS, points="6", key=key)).status_code
        )

    first_check_waits.start(AccountRule)
    statuses = at_once(partial(add, clients[0], "one"), partial(add, clients[1], "two"))

    assert sorted(statuses) == [200, 302]  # the second refused on its points, once the first is kept
    assert active_points() == [6, WHOLE_MAX - 10]


@pytest.mark.django_db(transaction=True)
def test_two_rules_made_at_once_by_the_service_cannot_together_pass_the_column(
    postgres: None, first_check_waits: FirstCheckWaits
) -> None:
    services.account_rule_create(name="Toys", points=WHOLE_MAX - 10, conditions=[TOYS])

    def create(name: str) -> str:
        try:
            services.account_rule_create(name=name, points=6, conditions=[TOYS])
        except ValidationError as refused:
            return " ".join(refused.message_dict["points"])
        return "made"

    first_check_waits.start(AccountRule)
    said = sorted(at_once(partial(create, "One"), partial(create, "Two")))

    assert said[1] == "made"
    assert f"up to {WHOLE_MAX + 2} points" in said[0]
    assert active_points() == [6, WHOLE_MAX - 10]


@pytest.mark.django_db(transaction=True)
def test_a_rule_saved_while_a_model_file_is_imported_is_one_the_file_leaves_out(
    postgres: None, admin_user: Any, first_check_waits: FirstCheckWaits, tmp_path: Path
) -> None:
    # The file's rule fits alone, and the rule added alone; the import deactivates a rule it
    # leaves out only when it sees it: a rule checked against the rules of before the file
    # is kept only if the import then reads it.
    path = write(tmp_path, accounts_text(WHOLE_MAX - 10))
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)

    def add() -> int:
        return int(client.post(reverse("admin:scoring_accountrule_add"), rule_post(TOYS, points="11")).status_code)

    def import_file() -> None:
        # Once the rule added was checked against the rules of before the file.
        wait_for(first_check_waits.checked.is_set, message="the rule added to be checked")
        call_command("scoring_model_import", str(path), stdout=StringIO())
        first_check_waits.went_on.set()

    first_check_waits.start(AccountRule)
    status, _ = at_once(add, import_file)

    assert status == 302
    assert active_points() == [WHOLE_MAX - 10]
    assert not AccountRule.objects.get(key="toy-makers-in-spain").active
