"""The account ledger's sums, for tests checking the invariant: an account's cached scores
are its ledger's sums, by dimension."""

from __future__ import annotations

from django.db.models import Sum

from scoring.models import Account, AccountEntry


def account_fit_in_ledger(account: Account) -> int:
    """The account's fit as its ledger sums it (the cached fit_score must equal it)."""
    entries = AccountEntry.objects.filter(account=account, dimension=AccountEntry.Dimension.FIT)
    return entries.aggregate(total=Sum("delta"))["total"] or 0


def account_ledgers_match_cache() -> None:
    """Every account's cached lead and fit scores are its ledger's sums, and its total theirs."""
    for account in Account.objects.all():
        sums = dict(
            AccountEntry.objects.filter(account=account)
            .values("dimension")
            .annotate(total=Sum("delta"))
            .values_list("dimension", "total")
        )
        assert (sums.get("leads", 0), sums.get("fit", 0)) == (account.lead_score, account.fit_score)
        assert account.total_score == account.lead_score + account.fit_score
