"""Account groups (target / engaged / hot): an account is in the group its total reaches,
leaves it only below the group's 'leave below' (hysteresis: no flapping at a border),
and every move is kept as a transition with its time, one per group crossed."""

from __future__ import annotations

import pytest
from celery import current_app
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks

from scoring import accounts as pure
from scoring import model_file, rules, services
from scoring.models import Account, AccountGroup, AccountSettings, AccountTransition, GroupTransition, Lead
from scoring.services import account_groups

pytestmark = pytest.mark.django_db


@pytest.fixture
def bands() -> dict[str, AccountGroup]:
    AccountSettings.objects.update_or_create(pk=1, defaults={"rollup": pure.Rollup.SUM.value})
    return {
        "target": AccountGroup.objects.create(key="target", name="Target", min_score=20),
        "engaged": AccountGroup.objects.create(key="engaged", name="Engaged", min_score=50, leave_below=40),
        "hot": AccountGroup.objects.create(key="hot", name="Hot", min_score=80, leave_below=70),
    }


def score_to(lead: Lead, total: int) -> None:
    """Move the lead's total to ``total`` and let the accounts follow (the sweep's refresh)."""
    lead.refresh_from_db()
    services.lead_adjust_score(
        lead_id=lead.pk, dimension=rules.Dimension.ENGAGEMENT, delta=total - lead.total_score, note="test"
    )
    services.accounts_refresh_pending()


def moves(account: Account) -> list[tuple[str | None, str | None, str, int, int]]:
    return [
        (t.from_group.key if t.from_group else None, t.to_group.key if t.to_group else None, t.direction, *totals)
        for t in AccountTransition.objects.filter(account=account)
        .select_related("from_group", "to_group")
        .order_by("id")
        for totals in [(t.previous_total, t.total_score)]
    ]


def test_an_account_crosses_each_group_in_order_and_hovering_at_a_border_moves_nothing(
    bands: dict[str, AccountGroup],
) -> None:
    account = Account.objects.create(name="Acme", domain="acme.com")
    lead = Lead.objects.create(email="ana@acme.com", account=account)
    score_to(lead, 85)
    assert moves(account) == [
        (None, "target", "up", 0, 20),
        ("target", "engaged", "up", 20, 50),
        ("engaged", "hot", "up", 50, 85),
    ]
    account.refresh_from_db()
    assert account.group == bands["hot"]
    # Hovering around the hot threshold (80) but not below 70: still hot, no transition.
    for total in (75, 81, 72, 79, 70):
        score_to(lead, total)
    assert len(moves(account)) == 3
    assert Account.objects.get(pk=account.pk).group == bands["hot"]
    # Below 70 it leaves hot; back up to 79 it is still below hot's 80: not re-entered.
    score_to(lead, 69)
    score_to(lead, 79)
    assert moves(account)[3:] == [("hot", "engaged", "down", 70, 69)]
    assert Account.objects.get(pk=account.pk).group == bands["engaged"]
    score_to(lead, 80)
    assert moves(account)[4:] == [("engaged", "hot", "up", 79, 80)]
    # Falling from hot to nothing passes through engaged and target, each a transition.
    score_to(lead, 5)
    assert [(a, b, d) for a, b, d, *_ in moves(account)[5:]] == [
        ("hot", "engaged", "down"),
        ("engaged", "target", "down"),
        ("target", None, "down"),
    ]
    assert Account.objects.get(pk=account.pk).group is None
    # Every transition carries its time and cause.
    assert set(AccountTransition.objects.values_list("cause", flat=True)) == {"rollup"}
    assert all(t.occurred_at <= timezone.now() for t in AccountTransition.objects.all())
    # Routing hears of each move, in order: an ``account`` event on the account's best lead.
    events = GroupTransition.objects.filter(kind=GroupTransition.Kind.ACCOUNT).order_by("id")
    assert [(e.lead_id, e.account_transition_id, e.direction, e.previous_total, e.total_score) for e in events] == [
        (lead.pk, t.pk, t.direction, t.previous_total, t.total_score)
        for t in AccountTransition.objects.filter(account=account).order_by("id")
    ]


def test_an_account_fit_rule_moves_the_account_into_a_group(bands: dict[str, AccountGroup]) -> None:
    account = Account.objects.create(name="Toys Inc", domain="toys.example", industry="Toys")
    services.account_rule_create(name="Toy makers", points=55, conditions=[("industry", "equals", "toys")])
    services.accounts_rescore_fit(account_ids=[account.pk])
    account.refresh_from_db()
    assert (account.total_score, account.group) == (55, bands["engaged"])
    assert {t.cause for t in AccountTransition.objects.filter(account=account)} == {"rule"}
    assert services.accounts_rescore_fit(account_ids=[account.pk]) == 0
    assert AccountTransition.objects.filter(account=account).count() == 2


def test_each_move_is_told_on_its_own_accounts_best_lead(bands: dict[str, AccountGroup]) -> None:
    """Accounts moving in one refresh: each move's event goes to the best lead of its own
    account (the highest total, the oldest of those tied), never to a lead of no account;
    an account without leads moves with no event (no lead for routing to act on)."""
    tied = Account.objects.create(name="Tied", domain="tied.example")
    other = Account.objects.create(name="Other", domain="other.example")
    first = Lead.objects.create(email="a@tied.example", account=tied)
    second = Lead.objects.create(email="b@tied.example", account=tied)
    lone = Lead.objects.create(email="c@other.example", account=other)
    stray = Lead.objects.create(email="d@nowhere.example")
    for lead, points in ((first, 30), (second, 30), (lone, 55), (stray, 90)):
        services.lead_adjust_score(lead_id=lead.pk, dimension=rules.Dimension.ENGAGEMENT, delta=points, note="test")
    services.accounts_refresh_pending()  # both accounts in one batch: 60 and 55, engaged
    empty = Account.objects.create(name="Empty", domain="empty.example", industry="Toys")
    services.account_rule_create(name="Toy makers", points=25, conditions=[("industry", "equals", "toys")])
    services.accounts_rescore_fit(account_ids=[empty.pk])  # 25: target, and no lead to tell

    def told(account: Account) -> list[tuple[object, ...]]:
        return [
            (e.lead_id, e.account_transition_id, e.direction, e.previous_total, e.total_score, e.cause, e.occurred_at)
            for e in GroupTransition.objects.filter(
                kind=GroupTransition.Kind.ACCOUNT, account_transition__account=account
            ).order_by("id")
        ]

    for account, best in ((tied, first), (other, lone)):
        transitions = AccountTransition.objects.filter(account=account).order_by("id")
        assert [(t.from_group, t.to_group) for t in transitions] == [
            (None, bands["target"]),
            (bands["target"], bands["engaged"]),
        ]
        assert told(account) == [
            (best.pk, t.pk, t.direction, t.previous_total, t.total_score, t.cause, t.occurred_at) for t in transitions
        ]
    assert [(t.to_group, t.cause) for t in AccountTransition.objects.filter(account=empty)] == [
        (bands["target"], "rule")
    ]
    assert told(empty) == []
    assert not GroupTransition.objects.filter(lead=stray, kind=GroupTransition.Kind.ACCOUNT).exists()


def test_changed_groups_regroup_every_account_once_keeping_hysteresis(bands: dict[str, AccountGroup]) -> None:
    account = Account.objects.create(name="Acme", domain="acme.com")
    lead = Lead.objects.create(email="ana@acme.com", account=account)
    score_to(lead, 60)
    score_to(lead, 45)  # still engaged: 45 is not below its 40
    assert Account.objects.get(pk=account.pk).group == bands["engaged"]
    AccountGroup.objects.filter(pk=bands["engaged"].pk).update(leave_below=None)  # now leaves below 50
    start = AccountTransition.objects.count()
    services.accounts_rescore()
    assert [(t.from_group_id, t.to_group_id, t.cause) for t in AccountTransition.objects.order_by("id")[start:]] == [
        (bands["engaged"].pk, bands["target"].pk, "regroup")
    ]
    services.accounts_rescore()  # a second run: nothing more
    assert AccountTransition.objects.count() == start + 1


def test_group_moves_go_up_into_higher_groups_and_down_out_of_them() -> None:
    bands = [rules.Band(1, 20), rules.Band(2, 50, 40), rules.Band(3, 80, 70)]
    up = rules.group_moves(None, 3, 0, 90, bands)
    assert [(s.from_group, s.to_group, s.previous_total, s.total, rising) for s, rising in up] == [
        (None, 1, 0, 20, True),
        (1, 2, 20, 50, True),
        (2, 3, 50, 90, True),
    ]
    down = rules.group_moves(3, None, 90, 0, bands)
    assert [(s.from_group, s.to_group, rising) for s, rising in down] == [
        (3, 2, False),
        (2, 1, False),
        (1, None, False),
    ]
    # Each step's totals join up: the whole change is covered once.
    assert [s.previous_total for s, _ in down[1:]] == [s.total for s, _ in down[:-1]]


# --- the model file ------------------------------------------------------------------

FILE = """
leadflow_model: 1
account_groups:
  - {key: target, name: Target, min_score: 20}
  - {key: hot, name: Hot, min_score: 80, leave_below: 70, description: Sales calls them}
"""


def test_account_groups_round_trip_through_the_model_file() -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE))
    assert list(AccountGroup.objects.values_list("key", "min_score", "leave_below")) == [
        ("target", 20, None),
        ("hot", 80, 70),
    ]
    exported = model_file.dump_data(services.scoring_model_export())
    assert exported["account_groups"] == [
        {"key": "target", "name": "Target", "min_score": 20},
        {"key": "hot", "name": "Hot", "min_score": 80, "leave_below": 70, "description": "Sales calls them"},
    ]
    # Imported again, the export changes nothing; a group left out of the file is deleted.
    services.scoring_model_import(spec=model_file.load_data(exported))
    assert model_file.dump_data(services.scoring_model_export()) == exported
    services.scoring_model_import(spec=model_file.load_text(FILE.split("  - {key: hot")[0]))
    assert list(AccountGroup.objects.values_list("key", flat=True)) == ["target"]


def test_an_old_model_file_without_account_groups_imports_unchanged_and_keeps_them() -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE))
    old = "leadflow_model: 1\nscore_groups:\n  - {key: mql, name: MQL, min_score: 50}\nrules: []\n"
    spec = model_file.load_text(old)
    assert spec.account_groups is None
    services.scoring_model_import(spec=spec)
    assert list(AccountGroup.objects.values_list("key", flat=True)) == ["target", "hot"]
    # With no account groups at all, the export has no account_groups key: as before them.
    AccountGroup.objects.all().delete()
    assert "account_groups" not in model_file.dump_data(services.scoring_model_export())


def test_bad_account_groups_are_refused_by_place() -> None:
    with pytest.raises(model_file.ModelFileError) as refused:
        model_file.load_text(
            "leadflow_model: 1\naccount_groups:\n"
            "  - {key: hot, name: Hot, min_score: 80, leave_below: 90}\n"
            "  - {key: hot, name: Warm, min_score: 80}\n"
        )
    assert refused.value.errors == [
        "account_groups[0].leave_below: 90 must be at most min_score (80)",
        "account_groups[1].key: 'hot' is also the key of account_groups[0]",
        "account_groups[1].min_score: 80 is already the threshold of hot",
    ]


# --- the admin ------------------------------------------------------------------------


def test_the_account_page_shows_its_group_and_its_moves(admin_client: Client, bands: dict[str, AccountGroup]) -> None:
    account = Account.objects.create(name="Acme", domain="acme.com")
    lead = Lead.objects.create(email="ana@acme.com", account=account)
    score_to(lead, 55)
    page = admin_client.get(reverse("admin:scoring_account_change", args=[account.pk])).content.decode()
    assert "Account group: Engaged" in page
    assert "0 → 20" in page
    assert "20 → 55" in page
    listing = admin_client.get(reverse("admin:scoring_accountgroup_changelist")).content.decode()
    assert "Engaged" in listing
    assert "Accounts now" in listing


def test_adding_an_account_group_in_the_admin_regroups_the_accounts(
    admin_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    account = Account.objects.create(name="Acme", domain="acme.com")
    lead = Lead.objects.create(email="ana@acme.com", account=account)
    score_to(lead, 30)
    sent: list[str] = []
    monkeypatch.setattr(account_groups, "enqueue", lambda name, *args, fallback: sent.append(name))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:scoring_accountgroup_add"), {"key": "target", "name": "Target", "min_score": "20"}
        )
    assert response.status_code == 302
    assert sent == ["scoring.accounts_rescore_nightly"]
    current_app.tasks[sent[0]].apply()  # what the worker runs
    account.refresh_from_db()
    assert account.group == AccountGroup.objects.get(key="target")
    assert AccountTransition.objects.get(account=account).cause == "regroup"
