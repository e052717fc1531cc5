"""The ledgers' lead, rule and scorecard keys, and the account ledger's and the stale-account
queue's account keys, have no constraint in the database (see "Keys unchecked" in
scoring.models.ledger): what the constraints used to guard still holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import RestrictedError
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scoring import erasure, services
from scoring.models import (
    Account,
    Interaction,
    InteractionKey,
    Lead,
    Scorecard,
    ScorecardEntry,
    ScoreEntry,
    StaleAccount,
)
from scoring.services import accounts_refresh_pending
from tests.factories import InteractionFactory, LeadFactory, ScoringRuleFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def rows_for(lead_id: int, rule_id: int, card: Scorecard) -> None:
    common = {"dimension": "engagement", "delta": 3, "cause": "manual", "occurred_at": T0, "rule_id": rule_id}
    ScoreEntry.objects.create(lead_id=lead_id, **common)
    ScorecardEntry.objects.create(lead_id=lead_id, scorecard=card, **common)


def test_a_rule_or_scorecard_with_ledger_rows_is_not_deleted() -> None:
    rule = ScoringRuleFactory.create()
    card = Scorecard.objects.create(key="toys", name="Toys")
    rows_for(LeadFactory.create().pk, rule.pk, card)

    with pytest.raises(RestrictedError):
        rule.delete()
    with pytest.raises(RestrictedError):
        card.delete()
    assert (ScoreEntry.objects.count(), ScorecardEntry.objects.count()) == (1, 1)


def test_erasing_a_lead_removes_its_rows_in_both_ledgers_and_no_other() -> None:
    rule = ScoringRuleFactory.create()
    card = Scorecard.objects.create(key="toys", name="Toys")
    erased, kept = LeadFactory.create(), LeadFactory.create()
    rows_for(erased.pk, rule.pk, card)
    rows_for(kept.pk, rule.pk, card)

    erasure.lead_erase(lead_id=erased.pk)

    assert set(ScoreEntry.objects.values_list("lead_id", flat=True)) == {kept.pk}
    assert set(ScorecardEntry.objects.values_list("lead_id", flat=True)) == {kept.pk}


def test_erasing_a_lead_asks_neither_ledger_for_rows_by_interaction() -> None:
    """The rows naming a lead's interactions are the lead's own, deleted by lead: asking a
    ledger for them by interaction read the whole default ledger (it has no index by
    interaction), and kept an index on the scorecards' ledger for that alone."""
    rule = ScoringRuleFactory.create()
    card = Scorecard.objects.create(key="toys", name="Toys")
    erased, kept = LeadFactory.create(), LeadFactory.create()
    for lead in (erased, kept):
        for interaction in InteractionFactory.create_batch(2, lead=lead, occurred_at=T0):
            common = {"lead_id": lead.pk, "rule_id": rule.pk, "interaction_id": interaction.pk, "occurred_at": T0}
            ScoreEntry.objects.create(dimension="engagement", delta=3, cause="rule", **common)
            ScorecardEntry.objects.create(dimension="engagement", delta=2, cause="rule", scorecard=card, **common)

    with CaptureQueriesContext(connection) as queries:
        report = erasure.lead_erase(lead_id=erased.pk)

    by_interaction = [
        q["sql"] for q in queries.captured_queries if "entry" in q["sql"] and '"interaction_id" IN' in q["sql"]
    ]
    assert by_interaction == []
    assert (report.removed["interactions"], report.removed["score_entries"]) == (2, 2)
    assert set(ScoreEntry.objects.values_list("lead_id", flat=True)) == {kept.pk}
    assert set(ScorecardEntry.objects.values_list("lead_id", flat=True)) == {kept.pk}
    assert set(Interaction.objects.values_list("lead_id", flat=True)) == {kept.pk}


def test_erasing_a_lead_keeps_another_person_s_events_that_carried_its_visitor() -> None:
    """A shared browser: the visitor is Ana's, and Bob's event (sent with his email) carried
    it. Erasing Ana removes her visitor, not Bob's event, its key or the points it gave him."""
    from intake import events as checks
    from intake import ingest

    ScoringRuleFactory.create(name="Opens", points=5, interaction_types=["email_open"])
    sent = [
        {"id": "a-1", "type": "email_open", "lead": {"email": "ana@example.com"}, "visitor_id": "v-1"},
        {"id": "b-1", "type": "email_open", "lead": {"email": "bob@example.com"}, "visitor_id": "v-1"},
    ]
    for raw in sent:  # one request each: Ana's identifies the visitor first
        events, _ = checks.events_check([raw], now=datetime.now(UTC))
        ingest.events_accept(events, source="api")
    services.interactions_score_pending()
    ana, bob = Lead.objects.get(email="ana@example.com"), Lead.objects.get(email="bob@example.com")

    report = erasure.lead_erase(lead_id=ana.pk)

    assert report.removed["interactions"] == 1
    kept = Interaction.objects.get()
    assert (kept.lead_id, kept.visitor_id, kept.idempotency_key) == (bob.pk, None, "b-1")
    assert list(InteractionKey.objects.values_list("key", flat=True)) == ["b-1"]
    assert list(ScoreEntry.objects.values_list("lead_id", "interaction_id", "delta")) == [(bob.pk, kept.pk, 5)]
    bob.refresh_from_db()
    assert bob.engagement_score == 5


def test_the_admin_deletes_no_interaction_one_by_one(admin_client: Client) -> None:
    interaction = InteractionFactory.create(lead=LeadFactory.create(), occurred_at=T0)

    page = admin_client.get(reverse("admin:scoring_interaction_delete", args=[interaction.pk]))
    listed = admin_client.get(reverse("admin:scoring_interaction_changelist"))

    assert page.status_code == 403
    assert listed.status_code == 200
    assert "delete_selected" not in listed.content.decode()
    assert Interaction.objects.filter(pk=interaction.pk).exists()


def test_a_queued_account_that_is_gone_is_dropped_by_the_refresh() -> None:
    kept, gone = (
        Account.objects.create(domain="acme.com", name="Acme"),
        Account.objects.create(domain="x.com", name="X"),
    )
    LeadFactory.create(email="ana@acme.com", account=kept, engagement_score=5)
    StaleAccount.objects.create(account=kept)
    StaleAccount.objects.create(account_id=gone.pk)
    Account.objects.filter(pk=gone.pk)._raw_delete(using="default")  # as a raw delete would leave it

    assert accounts_refresh_pending() == 1

    assert not StaleAccount.objects.exists()
    assert Account.objects.get(pk=kept.pk).lead_score == 5
