"""Who may do what with accounts: Marketing designs account scoring in the admin (accounts,
account fit rules, account groups, the free-mail list, the roll-up settings); sales
managers read it; reps work the sales queue, which shows them a lead's account."""

from __future__ import annotations

import pytest
from celery import current_app
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks

from scoring import rules, services
from scoring.models import Account, AccountGroup, AccountRule, AccountSettings, FreeMailDomain, Lead
from scoring.services import account_groups
from scoring.services import accounts as account_services
from tests.routing.factories import QueueItemFactory, RepFactory, UserFactory, marketer

pytestmark = pytest.mark.django_db

ACCOUNT_MODELS = ["account", "accountrule", "accountgroup", "freemaildomain", "accountsettings"]
# Edited on their rule's page (not listed on the admin's home), with the same permissions.
CONDITIONS = "accountrulecondition"


def some_of_each() -> dict[str, int]:
    """One row of each model a marketer edits, by model name."""
    account = Account.objects.create(name="Acme", domain="acme.com", industry="Retail")
    rule = services.account_rule_create(name="Retail", points=10, conditions=[("industry", "equals", "Retail")])
    group = AccountGroup.objects.create(key="hot", name="Hot", min_score=100)
    domain, _ = FreeMailDomain.objects.get_or_create(domain="gmail.com")
    settings = services.account_settings_get()
    return {
        "account": account.pk,
        "accountrule": rule.pk,
        "accountgroup": group.pk,
        "freemaildomain": domain.pk,
        "accountsettings": settings.pk,
    }


def sales_manager() -> User:
    user = UserFactory.create(is_staff=True)
    user.groups.add(Group.objects.get(name="Sales managers"))
    return user


@pytest.mark.parametrize(
    ("group", "allowed"),
    [
        (
            "Marketing",
            {
                f"{verb}_{model}"
                for model in [*ACCOUNT_MODELS, CONDITIONS]
                for verb in ("view", "add", "change", "delete")
            },
        ),
        ("Sales managers", {f"view_{model}" for model in [*ACCOUNT_MODELS, CONDITIONS]}),
        ("Sales", set()),
    ],
)
def test_the_migration_gives_marketing_the_account_models_and_sales_managers_a_read(
    group: str, allowed: set[str]
) -> None:
    codenames = set(
        Group.objects.get(name=group)
        .permissions.filter(content_type__app_label="scoring", content_type__model__in=[*ACCOUNT_MODELS, CONDITIONS])
        .values_list("codename", flat=True)
    )
    assert codenames == allowed
    ledger = set(
        Group.objects.get(name=group)
        .permissions.filter(codename__in=["view_accountentry", "view_accounttransition", "change_accountentry"])
        .values_list("codename", flat=True)
    )
    assert ledger == (set() if group == "Sales" else {"view_accountentry", "view_accounttransition"})


def test_a_marketer_opens_every_account_page_of_the_admin() -> None:
    rows = some_of_each()
    client = Client()
    client.force_login(marketer())
    index = client.get(reverse("admin:index")).content.decode()
    for model in ACCOUNT_MODELS:
        assert f"/admin/scoring/{model}/" in index, model
        assert client.get(reverse(f"admin:scoring_{model}_changelist")).status_code == 200, model
        assert client.get(reverse(f"admin:scoring_{model}_change", args=[rows[model]])).status_code == 200, model
        if model != "accountsettings":  # one row, there already
            assert client.get(reverse(f"admin:scoring_{model}_add")).status_code == 200, model


def test_a_marketer_changes_accounts_rules_groups_free_mail_and_settings(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    rows = some_of_each()
    for module in (account_services, account_groups):
        monkeypatch.setattr(module, "enqueue", lambda name, *args, fallback: True)
    client = Client()
    client.force_login(marketer())

    def post(model: str, data: dict[str, str], pk: int | None = None) -> None:
        url = reverse(f"admin:scoring_{model}_change", args=[pk]) if pk else reverse(f"admin:scoring_{model}_add")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, data)
        assert response.status_code == 302, (model, response.context and response.context["adminform"].form.errors)

    post(
        "account",
        {"name": "Acme Inc", "domain": "acme.com", "industry": "Retail", "attributes": "{}", "time_zone": ""},
        rows["account"],
    )
    post(
        "accountrule",
        {"name": "Big", "key": "big", "points": "5", "match": "all", "active": "on",
         "conditions-TOTAL_FORMS": "1", "conditions-INITIAL_FORMS": "0", "conditions-MIN_NUM_FORMS": "0",
         "conditions-MAX_NUM_FORMS": "1000", "conditions-0-position": "0", "conditions-0-field": "company_size",
         "conditions-0-operator": "gte", "conditions-0-value_text": "500"},
    )  # fmt: skip
    post(
        "accountgroup",
        {"key": "hot", "name": "Very hot", "min_score": "150", "leave_below": "120"},
        rows["accountgroup"],
    )
    post("freemaildomain", {"domain": " @Mail.Example. "})
    post("accountsettings", {"rollup": "max", "top_n": "3"}, rows["accountsettings"])

    assert Account.objects.get(pk=rows["account"]).name == "Acme Inc"
    big = AccountRule.objects.get(name="Big", points=5)
    assert [(c.field, c.operator, c.value) for c in big.conditions.all()] == [("company_size", "gte", 500)]
    assert AccountGroup.objects.get(pk=rows["accountgroup"]).name == "Very hot"
    assert FreeMailDomain.objects.filter(domain="mail.example").exists()
    assert AccountSettings.objects.get().rollup == "max"


def test_a_change_of_the_free_mail_list_in_the_admin_moves_the_leads_already_there(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    lead, _ = services.lead_upsert(email="ana@mail.example")
    account = Account.objects.get(domain="mail.example")
    assert Lead.objects.get(pk=lead.pk).account_id == account.pk
    sent: list[str] = []
    monkeypatch.setattr(account_services, "enqueue", lambda name, *args, fallback: sent.append(name))
    client = Client()
    client.force_login(marketer())
    with django_capture_on_commit_callbacks(execute=True):
        added = client.post(reverse("admin:scoring_freemaildomain_add"), {"domain": "mail.example"}, follow=True)
    assert "in the background" in added.content.decode()
    assert sent == ["scoring.accounts_assign_all"]
    current_app.tasks[sent[0]].apply()  # what the worker runs
    assert Lead.objects.get(pk=lead.pk).account_id is None
    services.accounts_refresh_pending()
    assert Account.objects.get(pk=account.pk).lead_score == 0

    domain = FreeMailDomain.objects.get(domain="mail.example")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:scoring_freemaildomain_delete", args=[domain.pk]), {"post": "yes"})
    assert sent == ["scoring.accounts_assign_all"] * 2
    current_app.tasks[sent[0]].apply()
    assert Lead.objects.get(pk=lead.pk).account_id == account.pk


@pytest.mark.parametrize("typed", ["", "@", "gmail", "ana@gmail.com", "gmail .com", ".com"])
def test_a_free_mail_domain_that_is_not_a_domain_is_refused_by_name(typed: str) -> None:
    client = Client()
    client.force_login(marketer())
    page = client.post(reverse("admin:scoring_freemaildomain_add"), {"domain": typed})
    assert page.status_code == 200
    assert page.context["adminform"].form.errors["domain"]
    assert not FreeMailDomain.objects.filter(domain=typed.strip("@ .").lower()).exclude(domain="gmail.com").exists()


def test_a_sales_manager_reads_the_account_pages_and_changes_nothing() -> None:
    rows = some_of_each()
    client = Client()
    client.force_login(sales_manager())
    for model in ACCOUNT_MODELS:
        assert client.get(reverse(f"admin:scoring_{model}_changelist")).status_code == 200, model
        page = client.get(reverse(f"admin:scoring_{model}_change", args=[rows[model]]))
        assert page.status_code == 200, model
        assert 'name="_save"' not in page.content.decode(), model
        assert client.post(reverse(f"admin:scoring_{model}_change", args=[rows[model]]), {}).status_code == 403
        assert client.get(reverse(f"admin:scoring_{model}_add")).status_code == 403, model
    assert Account.objects.get(pk=rows["account"]).name == "Acme"


def test_a_rep_cannot_open_or_change_the_account_pages() -> None:
    rows = some_of_each()
    AccountSettings.objects.all().delete()  # the settings' add page is open while there is none
    rep = RepFactory.create().user
    staff_rep = RepFactory.create(user__is_staff=True).user  # given staff by mistake: still the Sales group's only
    for user, refused in [(rep, 302), (staff_rep, 403)]:
        client = Client()
        client.force_login(user)
        for model in ACCOUNT_MODELS:
            pages = [reverse(f"admin:scoring_{model}_changelist"), reverse(f"admin:scoring_{model}_add")]
            if model != "accountsettings":
                pages.append(reverse(f"admin:scoring_{model}_change", args=[rows[model]]))
            for url in pages:
                assert client.get(url).status_code == refused, (user, url)
            client.post(reverse(f"admin:scoring_{model}_add"), {"name": "x", "domain": "x.example", "rollup": "max"})
    assert not AccountSettings.objects.exists()
    assert Account.objects.count() == 1
    assert not FreeMailDomain.objects.filter(domain="x.example").exists()


def test_a_rep_sees_the_lead_s_account_on_the_queue() -> None:
    rep = RepFactory.create()
    group = AccountGroup.objects.create(key="hot", name="Hot", min_score=20)
    account = Account.objects.create(name="Acme", domain="acme.com")
    lead = Lead.objects.create(email="ana@acme.com", account=account)
    services.lead_adjust_score(lead_id=lead.pk, dimension=rules.Dimension.ENGAGEMENT, delta=25, note="seed")
    services.accounts_refresh_pending()
    item = QueueItemFactory.create(team=rep.team, lead=lead)
    QueueItemFactory.create(team=rep.team)  # a lead without an account
    client = Client()
    client.force_login(rep.user)
    page = client.get(reverse("sales:queue")).content.decode()
    card = page[page.index(f'id="item-{item.pk}"') :]
    card = card[: card.index("</li>")] if "</li>" in card else card
    assert "Its account Acme: score 25" in card
    assert f">{group.name}</span>" in card
    assert page.count("Its account") == 1
