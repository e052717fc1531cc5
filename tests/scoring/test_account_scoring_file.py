"""How accounts are scored travels in the model file (``accounts``): the roll-up of their
leads' scores and the account fit rules, matched by key, a rule left out deactivated, and
every account's scores brought up to date afterwards, the ledger's sums as ever."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import current_app
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Sum
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks

from scoring import model_file, rules, services
from scoring.models import Account, AccountEntry, AccountRule, AccountSettings, Lead
from scoring.services import accounts as account_services
from scoring.services import versions
from tests.ledgers import account_ledgers_match_cache

pytestmark = pytest.mark.django_db

FILE = """
leadflow_model: 1
accounts:
  rollup: top_average
  top_n: 2
  rules:
    - key: toy-makers
      name: Toy makers
      points: 15
      conditions:
        - {field: industry, operator: one_of, value: [Toys, Games]}
    - key: big-in-spain
      name: 200 people or more, in Spain
      points: 10
      match: any
      conditions:
        - {field: company_size, operator: gte, value: 200}
        - {field: attributes.region, operator: equals, value: Iberia}
    - key: competitors
      name: Competitors
      points: -30
      conditions:
        - {field: domain, operator: matches, value: "*.rival.example"}
      active: false
"""


def exported() -> dict[str, object]:
    return model_file.dump_data(services.scoring_model_export())


def rows() -> list[tuple[str, str, int, str, bool, list[tuple[str, str, object]]]]:
    return [
        (r.key, r.name, r.points, r.match, r.active, [(c.field, c.operator, c.value) for c in r.conditions.all()])
        for r in AccountRule.objects.prefetch_related("conditions").order_by("key")
    ]


def the_worker_runs(sent: list[str]) -> None:
    assert sent == ["scoring.accounts_rescore_nightly"]
    current_app.tasks[sent.pop()].apply()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tasks handed to the workers (run by :func:`the_worker_runs`)."""
    names: list[str] = []

    def enqueue(name: str, *args: object, fallback: str) -> bool:
        names.append(name)
        return True

    monkeypatch.setattr(account_services, "enqueue", enqueue)
    return names


def test_account_scoring_round_trips_through_the_model_file() -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE))
    assert rows() == [
        ("big-in-spain", "200 people or more, in Spain", 10, "any", True,
         [("company_size", "gte", 200), ("attributes.region", "equals", "Iberia")]),
        ("competitors", "Competitors", -30, "all", False, [("domain", "matches", "*.rival.example")]),
        ("toy-makers", "Toy makers", 15, "all", True, [("industry", "one_of", ["Toys", "Games"])]),
    ]  # fmt: skip
    assert (AccountSettings.objects.get().rollup, AccountSettings.objects.get().top_n) == ("top_average", 2)
    first = exported()
    assert first["accounts"] == {
        "rollup": "top_average",
        "top_n": 2,
        "rules": [
            {
                "key": "big-in-spain",
                "name": "200 people or more, in Spain",
                "points": 10,
                "match": "any",
                "conditions": [
                    {"field": "company_size", "operator": "gte", "value": 200},
                    {"field": "attributes.region", "operator": "equals", "value": "Iberia"},
                ],
            },
            {
                "key": "competitors",
                "name": "Competitors",
                "points": -30,
                "conditions": [{"field": "domain", "operator": "matches", "value": "*.rival.example"}],
                "active": False,
            },
            {
                "key": "toy-makers",
                "name": "Toy makers",
                "points": 15,
                "conditions": [{"field": "industry", "operator": "one_of", "value": ["Toys", "Games"]}],
            },
        ],
    }
    # Into an empty database (no rule, no settings), then out again: the same file.
    AccountRule.objects.all().delete()
    AccountSettings.objects.all().delete()
    services.scoring_model_import(spec=model_file.load_data(first))
    assert exported() == first
    # The written text reads back as the same model.
    assert model_file.load_text(model_file.dump_text(services.scoring_model_export())).accounts == (
        model_file.load_data(first).accounts
    )


def test_a_file_without_accounts_leaves_the_rules_and_the_roll_up_alone() -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE))
    before = rows()
    old = "leadflow_model: 1\nscore_groups:\n  - {key: mql, name: MQL, min_score: 50}\nrules: []\n"
    spec = model_file.load_text(old)
    assert spec.accounts is None
    summary = services.scoring_model_import(spec=spec)
    assert rows() == before
    assert (AccountSettings.objects.get().rollup, AccountSettings.objects.get().top_n) == ("top_average", 2)
    assert not [line for line in summary.sections if "account" in line]


def test_a_model_scored_as_a_new_installation_exports_no_accounts() -> None:
    """No account rule and the sum: the file is as before accounts were in it."""
    AccountSettings.objects.update_or_create(pk=1, defaults={"rollup": "sum", "top_n": 7})
    assert "accounts" not in exported()
    AccountSettings.objects.filter(pk=1).update(rollup="max")
    assert exported()["accounts"] == {"rollup": "max", "rules": []}


def test_every_problem_of_the_accounts_is_told_with_its_place_at_once() -> None:
    bad = """
leadflow_model: 1
accounts:
  rollup: sum
  top_n: 4
  weight: 2
  rules:
    - key: toy makers
      name: Toy makers
      points: 0
      conditions:
        - {field: title, operator: equals, value: CEO}
        - {field: company_size, operator: between, value: 5}
    - key: toy makers
      points: many
      match: most
    - {key: empty, name: Empty, points: 5, conditions: []}
    - {key: odd, name: Odd, points: 5, dimension: fit, conditions: [{field: industry, operator: sounds_like}]}
    - just text
"""
    with pytest.raises(model_file.ModelFileError) as refused:
        model_file.load_text(bad)
    assert refused.value.errors == [
        "accounts.weight: unknown key (allowed: rollup, rules, top_n)",
        "accounts.top_n: not used by the sum roll-up (only top_average reads it)",
        "accounts.rules[0].key: 'toy makers' may hold only ASCII letters (a-z, A-Z), digits, - and _ (at most 80)",
        "accounts.rules[0].points: a rule worth 0 points does nothing; give it positive or negative points",
        "accounts.rules[0].conditions[0].field: Unknown account field 'title'. Use one of name, domain, industry, "
        "company_size, annual_revenue, country, or attributes.<name>.",
        "accounts.rules[0].conditions[1].value: 'between' needs two numbers: the lowest and the highest.",
        "accounts.rules[1].key: 'toy makers' may hold only ASCII letters (a-z, A-Z), digits, - and _ (at most 80)",
        "accounts.rules[1].key: 'toy makers' is also the key of accounts.rules[0]",
        "accounts.rules[1].name: required",
        "accounts.rules[1].points: must be a whole number, not 'many'",
        "accounts.rules[1].match: 'most' is not one of all, any",
        "accounts.rules[1].conditions: an account fit rule needs at least one condition",
        "accounts.rules[2].conditions: an account fit rule needs at least one condition",
        "accounts.rules[3].dimension: unknown key (allowed: active, conditions, key, match, name, points)",
        "accounts.rules[3].conditions[0].operator: Unknown operator 'sounds_like'. Use one of "
        + ", ".join(o.value for o in rules.Operator)
        + ".",
        "accounts.rules[4]: must be a mapping with key, name, points and conditions",
    ]
    with pytest.raises(model_file.ModelFileError) as refused:
        model_file.load_text("leadflow_model: 1\naccounts:\n  rollup: top_average\n  top_n: 1001\n")
    assert refused.value.errors == ["accounts.top_n: at most 1000, not 1001"]
    with pytest.raises(model_file.ModelFileError) as refused:
        model_file.load_text("leadflow_model: 1\naccounts: [sum]\n")
    assert refused.value.errors == ["accounts: must be a mapping with rollup, top_n and rules"]
    assert not AccountRule.objects.exists()


def test_a_re_import_updates_by_key_and_deactivates_what_it_leaves_out(sent: list[str]) -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE))
    ids = dict(AccountRule.objects.values_list("key", "pk"))
    changed = FILE.replace("points: 15", "points: 20").split("    - key: big-in-spain")[0]
    summary = services.scoring_model_import(spec=model_file.load_text(changed))
    assert "account rules: 0 created, 1 updated, deactivated (not in the file): big-in-spain" in summary.sections
    # Updated in place (the ledger's rule stays the same row); left out: kept, inactive.
    assert dict(AccountRule.objects.values_list("key", "pk")) == ids
    assert dict(AccountRule.objects.values_list("key", "active")) == {
        "toy-makers": True,
        "big-in-spain": False,
        "competitors": False,
    }
    assert AccountRule.objects.get(key="toy-makers").points == 20
    # Imported again unchanged: nothing is written, no account is recomputed for it.
    sent.clear()
    summary = services.scoring_model_import(spec=model_file.load_text(changed))
    assert "account rules: 0 created, 0 updated" in summary.sections
    assert sent == []


def test_the_accounts_scores_follow_the_imported_rules_and_roll_up(
    sent: list[str], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    toys = Account.objects.create(name="Toys", domain="toys.example", industry="Toys", company_size=20)
    Account.objects.create(name="Big", domain="big.example", industry="Banking", company_size=900)
    for n, score in enumerate([30, 10, 2]):
        lead = Lead.objects.create(email=f"p{n}@toys.example", account=toys)
        services.lead_adjust_score(lead_id=lead.pk, dimension=rules.Dimension.ENGAGEMENT, delta=score, note="seed")
    services.accounts_rescore()
    assert Account.objects.get(pk=toys.pk).total_score == 42  # the sum, as installed

    with django_capture_on_commit_callbacks(execute=True):
        services.scoring_model_import(spec=model_file.load_text(FILE))
    the_worker_runs(sent)
    scores = dict(Account.objects.values_list("name", "total_score"))
    assert scores == {"Toys": 20 + 15, "Big": 10}  # the best 2 leads' average, and the fit rules
    account_ledgers_match_cache()
    toy_rule = AccountRule.objects.get(key="toy-makers")
    assert list(AccountEntry.objects.filter(account=toys, dimension="fit").values_list("delta", "cause", "rule")) == [
        (15, "rule", toy_rule.pk)
    ]

    # A rule left out of the next file is deactivated: its points are taken back, citing it.
    with django_capture_on_commit_callbacks(execute=True):
        services.scoring_model_import(
            spec=model_file.load_text(FILE.replace("rollup: top_average\n  top_n: 2", "rollup: max").split(
                "    - key: big-in-spain"
            )[0])
        )  # fmt: skip
    the_worker_runs(sent)
    scores = dict(Account.objects.values_list("name", "total_score"))
    assert scores == {"Toys": 30 + 15, "Big": 0}
    account_ledgers_match_cache()
    assert AccountRule.objects.get(key="big-in-spain").entries.aggregate(Sum("delta")) == {"delta__sum": 0}


def test_a_check_of_the_file_changes_no_account_rule(sent: list[str]) -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE), dry_run=True)
    assert not AccountRule.objects.exists()
    assert not AccountSettings.objects.filter(rollup="top_average").exists()


def test_the_command_imports_accounts_live_and_a_draft_refuses_them(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(FILE + "score_groups:\n  - {key: mql, name: MQL, min_score: 50}\nrules: []\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"also holds account scoring \(accounts\), which are not kept in drafts"):
        call_command("scoring_model_import", str(path))
    assert not AccountRule.objects.exists()
    call_command("scoring_model_import", str(path), "--publish")
    assert sorted(AccountRule.objects.values_list("key", flat=True)) == ["big-in-spain", "competitors", "toy-makers"]
    assert AccountSettings.objects.get().rollup == "top_average"
    with pytest.raises(versions.VersionError):
        versions.draft_import(spec=model_file.load_text(FILE + "rules: []\n"), user=None)


def test_a_rule_made_without_a_key_takes_one_from_its_name() -> None:
    made = [
        services.account_rule_create(name=name, points=5, conditions=[("industry", "equals", "Toys")])
        for name in ("Juguetería española", "Juguetería Española", "¿?")
    ]
    assert [rule.key for rule in made] == ["jugueteria-espanola", "jugueteria-espanola-2", "account-rule"]


# 84 characters: its slug is cut to the key's 80.
LONG_NAME = "Fabricantes de juguetes de madera y de cartón en la península y en las Islas Menores"
LONG_KEY = "fabricantes-de-juguetes-de-madera-y-de-carton-en-la-peninsula-y-en-las-islas-men"


def test_rules_with_a_long_name_take_keys_cut_to_make_room_for_their_number() -> None:
    """A slug of the key's full 80 characters is cut for its -2: the next rule still sees
    that key as taken."""
    made = [
        services.account_rule_create(name=LONG_NAME, points=5, conditions=[("industry", "equals", "Toys")])
        for _ in range(4)
    ]
    base = LONG_KEY
    assert [rule.key for rule in made] == [base, base[:78] + "-2", base[:78] + "-3", base[:78] + "-4"]


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_rules_there_before_keys_take_a_unique_slug_of_their_name() -> None:
    before, after = ("scoring", "0053_ledger_created_at_given"), ("scoring", "0054_account_rule_keys")
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([before])
        apps = executor.loader.project_state([before]).apps
        rule_model = apps.get_model("scoring", "AccountRule")
        names = ("Toys", "toys", "¿?", "Juguetería", *[LONG_NAME] * 3)
        made = [rule_model.objects.create(name=name, points=5) for name in names]
        account = apps.get_model("scoring", "Account").objects.create(name="Acme", domain="acme.example")
        apps.get_model("scoring", "AccountEntry").objects.create(
            account=account, dimension="fit", delta=5, cause="rule", rule=made[0], created_at=timezone.now()
        )
        executor = MigrationExecutor(connection)
        executor.migrate([after])
        keyed = executor.loader.project_state([after]).apps.get_model("scoring", "AccountRule")
        keys = dict(keyed.objects.values_list("pk", "key"))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    long = [LONG_KEY, LONG_KEY[:78] + "-2", LONG_KEY[:78] + "-3"]
    assert [keys[rule.pk] for rule in made] == ["toys", "toys-2", "account-rule", "jugueteria", *long]


def test_the_readme_s_accounts_example_is_a_file_import_reads() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = next(block for block in readme.split("```yaml\n")[1:] if block.startswith("accounts:"))
    spec = model_file.load_text("leadflow_model: 1\n" + example.split("```")[0]).accounts
    assert spec is not None
    assert (spec.rollup, spec.top_n, [r.key for r in spec.rules]) == ("top_average", 3, ["toy-makers-in-spain"])
