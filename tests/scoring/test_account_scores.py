"""An account's score: its leads' scores rolled up (sum, max, or the average of the best
N), kept in the account ledger like a lead's (the cached scores are always its sums),
refreshed after scoring batches and recomputed nightly, writing nothing twice."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import accounts as pure
from scoring import rules, services
from scoring.models import Account, AccountEntry, AccountSettings, Lead, ScoreEntry, StaleAccount
from scoring.services import accounts as account_services
from tests.conftest import at_once
from tests.factories import InteractionFactory, ScoringRuleFactory
from tests.ledgers import account_ledgers_match_cache

pytestmark = pytest.mark.django_db


def set_rollup(method: pure.Rollup, top_n: int = 3) -> None:
    AccountSettings.objects.update_or_create(pk=1, defaults={"rollup": method.value, "top_n": top_n})


def account_with(scores: list[int], domain: str = "acme.com") -> Account:
    account = Account.objects.create(name=domain, domain=domain)
    for n, score in enumerate(scores):
        lead = Lead.objects.create(email=f"p{n}@{domain}", account=account)
        services.lead_adjust_score(lead_id=lead.pk, dimension=rules.Dimension.ENGAGEMENT, delta=score, note="seed")
    return account


@pytest.mark.parametrize(
    ("method", "top_n", "expected"),
    [
        (pure.Rollup.SUM, 3, 70),
        (pure.Rollup.MAX, 3, 40),
        (pure.Rollup.TOP_AVERAGE, 2, 33),
        (pure.Rollup.TOP_AVERAGE, 9, 18),
    ],
)
def test_the_roll_up_each_way(method: pure.Rollup, top_n: int, expected: int) -> None:
    set_rollup(method, top_n)
    account = account_with([10, 40, -5, 25])
    account_with([], domain="empty.com")
    assert services.accounts_rescore() == 1
    account.refresh_from_db()
    assert (account.lead_score, account.total_score) == (expected, expected)
    account_ledgers_match_cache()


def test_the_nightly_recompute_writes_only_what_changed_and_nothing_the_second_time() -> None:
    set_rollup(pure.Rollup.SUM)
    acme, initech = account_with([10, 20]), account_with([5], domain="initech.com")
    assert services.accounts_rescore(chunk_size=1) == 2
    assert services.accounts_rescore(chunk_size=1) == 0
    services.lead_adjust_score(lead_id=acme.leads.first().pk, dimension=rules.Dimension.FIT, delta=-4, note="x")  # type: ignore[union-attr]
    assert services.accounts_rescore() == 1
    entry = AccountEntry.objects.filter(account=acme).order_by("-id").first()
    assert entry is not None
    assert (entry.delta, entry.cause, entry.dimension) == (-4, "rescore", "leads")
    assert Account.objects.get(pk=initech.pk).lead_score == 5
    # Changing the method moves every account by the difference, once.
    set_rollup(pure.Rollup.MAX)
    assert services.accounts_rescore() == 1  # initech's one lead: its sum is its max
    assert Account.objects.get(pk=acme.pk).lead_score == 20
    account_ledgers_match_cache()


def test_a_scoring_batch_refreshes_the_accounts_of_the_leads_it_touched() -> None:
    set_rollup(pure.Rollup.SUM)
    ScoringRuleFactory.create(points=7, interaction_types=["email_open"])
    ana, _ = services.lead_upsert(email="ana@acme.com")
    bo, _ = services.lead_upsert(email="bo@acme.com")
    solo, _ = services.lead_upsert(email="solo@gmail.com")
    InteractionFactory.create(lead=ana)
    InteractionFactory.create(lead=bo)
    InteractionFactory.create(lead=solo)
    services.interactions_score_pending()
    acme = Account.objects.get(domain="acme.com")
    assert acme.lead_score == 14
    assert not StaleAccount.objects.exists()
    assert list(AccountEntry.objects.filter(account=acme).values_list("delta", "cause")) == [(14, "rollup")]
    # Nothing new: the sweep writes nothing.
    services.interactions_score_pending()
    assert AccountEntry.objects.count() == 1
    account_ledgers_match_cache()


def test_a_lead_leaving_for_another_account_moves_both_roll_ups() -> None:
    set_rollup(pure.Rollup.SUM)
    lead, _ = services.lead_upsert(email="ana@acme.com", fields={"external_id": "a"})
    services.lead_adjust_score(lead_id=lead.pk, dimension=rules.Dimension.ENGAGEMENT, delta=9, note="seed")
    services.interactions_score_pending()
    assert Account.objects.get(domain="acme.com").lead_score == 9
    services.lead_upsert(email="ana@acme.com", account_external_id="crm-1")
    services.interactions_score_pending()
    assert Account.objects.get(domain="acme.com").lead_score == 0
    assert Account.objects.get(external_id="crm-1").lead_score == 9
    account_ledgers_match_cache()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.lists(st.integers(-50, 100), max_size=6), min_size=1, max_size=4),
    st.sampled_from(list(pure.Rollup)),
    st.integers(1, 4),
)
def test_the_database_rolls_up_as_the_pure_function_does(
    accounts: list[list[int]], method: pure.Rollup, top_n: int
) -> None:
    Lead.objects.all().delete()
    AccountEntry.objects.all().delete()
    Account.objects.all().delete()
    config = AccountSettings(rollup=method.value, top_n=top_n)
    ids = []
    for n, scores in enumerate(accounts):
        account = Account.objects.create(name=f"a{n}", domain=f"a{n}.com")
        ids.append(account.pk)
        for m, score in enumerate(scores):
            lead = Lead.objects.create(email=f"p{m}@a{n}.com", account=account)
            ScoreEntry.objects.create(
                lead=lead, dimension="fit", delta=score, cause="manual", occurred_at=lead.created_at
            )
            Lead.objects.filter(pk=lead.pk).update(fit_score=score)
    got = account_services.accounts_rollup(account_ids=ids, config=config)
    assert got == {
        pk: pure.rollup(scores, method=method, top_n=top_n) for pk, scores in zip(ids, accounts, strict=True)
    }


def test_a_sweep_claims_every_queue_row_of_an_account_at_once() -> None:
    """A busy account is queued by many scoring batches: one refresh serves them all."""
    set_rollup(pure.Rollup.SUM)
    acme, initech = account_with([10, 20]), account_with([5], domain="initech.com")
    StaleAccount.objects.all().delete()
    StaleAccount.objects.bulk_create(StaleAccount(account=a) for a in (acme, initech, acme, acme))
    first = StaleAccount.objects.order_by("pk").first()
    assert first is not None
    with transaction.atomic():
        assert account_services._stale_accounts_claim(1) == (1, [acme.pk], first.pk)
        assert list(StaleAccount.objects.values_list("account_id", flat=True)) == [initech.pk]
        transaction.set_rollback(True)  # a refresh that fails leaves them queued
    assert StaleAccount.objects.count() == 4
    assert services.accounts_refresh_pending(batch_size=1) == 2
    assert not StaleAccount.objects.exists()
    assert (Account.objects.get(pk=acme.pk).lead_score, Account.objects.get(pk=initech.pk).lead_score) == (30, 5)
    account_ledgers_match_cache()


def test_a_sweep_claims_forward_from_its_last_claim_and_the_next_sweep_starts_over() -> None:
    """Each claim starts after the last row the sweep took (not over the rows it deleted);
    a row behind it is left to the next sweep, which starts from the beginning."""
    set_rollup(pure.Rollup.SUM)
    acme, initech = account_with([10, 20]), account_with([5], domain="initech.com")
    globex = account_with([7], domain="globex.com")
    StaleAccount.objects.all().delete()
    rows = StaleAccount.objects.bulk_create(StaleAccount(account=a) for a in (acme, initech, globex))
    with transaction.atomic():
        assert account_services._stale_accounts_claim(1, after=rows[0].pk) == (1, [initech.pk], rows[1].pk)
        assert account_services._stale_accounts_claim(5, after=rows[2].pk) == (0, [], rows[2].pk)
        assert set(StaleAccount.objects.values_list("account_id", flat=True)) == {acme.pk, globex.pk}
        transaction.set_rollback(True)
    assert services.accounts_refresh_pending(batch_size=1) == 3
    assert not StaleAccount.objects.exists()
    account_ledgers_match_cache()


def test_the_nightly_recompute_leaves_the_sweep_nothing_for_the_accounts_it_recomputed() -> None:
    set_rollup(pure.Rollup.SUM)
    acme = account_with([10, 20])
    assert StaleAccount.objects.filter(account=acme).exists()
    assert services.accounts_rescore() == 1
    assert not StaleAccount.objects.exists()
    assert services.accounts_refresh_pending() == 0
    assert Account.objects.get(pk=acme.pk).lead_score == 30
    account_ledgers_match_cache()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_workers_sweeping_at_once_write_each_account_s_move_once(postgres: None) -> None:
    """Three sweeps over one queue, in small chunks so that they meet on the same accounts:
    each account moves by its leads' change once, whoever claimed its rows."""
    set_rollup(pure.Rollup.SUM)
    accounts = [account_with([n, 2 * n], domain=f"co{n}.example") for n in range(1, 31)]
    StaleAccount.objects.all().delete()
    AccountEntry.objects.all().delete()
    Account.objects.update(lead_score=0)
    # Each account queued by several scoring batches, in the order batches queue them.
    StaleAccount.objects.bulk_create(StaleAccount(account=a) for _ in range(3) for a in accounts)

    written = at_once(*[lambda: services.accounts_refresh_pending(batch_size=4)] * 3)

    assert sum(written) == len(accounts)
    assert not StaleAccount.objects.exists()
    assert dict(Account.objects.values_list("pk", "lead_score")) == {a.pk: 3 * (n + 1) for n, a in enumerate(accounts)}
    assert AccountEntry.objects.count() == len(accounts)
    account_ledgers_match_cache()
