"""Erasure: everything about the person goes, in every app, the report says exactly
what went, the admin's history forgets them, and the suppression list keeps only
what it must."""

from __future__ import annotations

import importlib
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.api_keys import api_key_issue
from intake.models import ApiKey
from nurture import services as nurture
from routing import sales
from routing import services as routing
from routing.models import ActionRun, QueueItem, WebhookAttempt, WebhookDelivery
from scoring import erasure, setaside, suppression
from scoring import services as scoring
from scoring.models import (
    Account,
    Interaction,
    Lead,
    PendingFit,
    SetAside,
    SuppressedAddress,
    Visitor,
    WaitingInteraction,
)
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory
from tests.nurture import conftest as nurture_fixtures
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import RepFactory, TeamFactory, rule

pytestmark = pytest.mark.django_db

# The real SMTP server on loopback of the nurture tests.
smtp_sink = nurture_fixtures.smtp_sink
smtp = nurture_fixtures.smtp

HOUR = timedelta(hours=1)


def table_counts() -> Counter[str]:
    tables = [model for model in apps.get_models() if model._meta.managed]  # no table: nothing to count
    return Counter({model._meta.label: model._default_manager.count() for model in tables})


def a_nurtured_routed_lead(email: str, smtp: Sink, now: Any) -> Lead:
    """A lead with rows in every app: interactions (its own and its visitor's), the
    ledger, a group transition, routing's action runs, an enrollment and its delivery,
    a queue item with an outcome, a notification and a webhook call with its attempt."""
    lead = LeadFactory.create(email=email, first_name="Ana", last_name="Ruiz")
    InteractionFactory.create_batch(2, lead=lead, occurred_at=now)
    visitor = Visitor.objects.create(key=f"v-{email}", lead=lead)
    Interaction.objects.create(visitor=visitor, type="page_view", occurred_at=now, idempotency_key=f"pv-{email}")
    scoring.interactions_score_pending()
    routing.transitions_route(now=now)
    nurture.deliveries_send_due(now=now + HOUR)
    item = QueueItem.objects.get(lead=lead)
    rep = item.team.reps.get()
    sales.item_claim(item_id=item.pk, user=rep.user, now=now)
    run = ActionRun.objects.filter(transition__lead=lead).first()
    assert run is not None
    delivery = WebhookDelivery.objects.create(
        run=run, url="https://crm.example/hook", payload={"email": email}, next_attempt_at=now
    )
    WebhookAttempt.objects.create(delivery=delivery, at=now, status_code=503)
    # A batch could not process one of its interactions: set aside, naming the lead by id only.
    failed = Interaction.objects.filter(lead=lead).first()
    assert failed is not None
    setaside.rows_set_aside(
        kind="interaction", failures=[setaside.Failure.of(failed.pk, lead.pk, ValueError(f"bad row of {email}"))]
    )
    return lead


@pytest.fixture
def routed(smtp: Sink) -> Any:
    ScoringRuleFactory.create(points=30, interaction_types=["email_open"])
    hot = ScoreGroupFactory.create(key="hot", min_score=50)
    welcome = SequenceFactory.create(key="welcome")
    StepFactory.create(sequence=welcome, position=1)
    team = TeamFactory.create(email="inside@sales.example")
    RepFactory.create(team=team)
    rule(
        "enters_group",
        {"kind": "enroll", "sequence": welcome},
        {"kind": "route_to_queue", "team": team},
        {"kind": "notify", "team": team, "message": "A hot lead."},
        group=hot,
    )
    return lambda email: a_nurtured_routed_lead(email, smtp, timezone.now())


def test_the_report_counts_exactly_the_rows_that_are_gone_in_every_app(routed: Any) -> None:
    lead = routed("ana@example.com")
    other = routed("bob@example.com")
    before = table_counts()

    report = erasure.lead_erase(lead_id=lead.pk)

    gone = before - table_counts()
    assert {erasure._kind(label): n for label, n in gone.items()} == report.removed
    assert report.removed == {
        "lead": 1,
        "interactions": 3,
        "score_entries": 2,
        "visitors": 1,
        "group_transitions": 1,
        "action_runs": 3,
        "enrollments": 1,
        "deliveries": 1,
        "queue_items": 1,
        "outcomes": 1,
        "notifications": 1,
        "webhook_deliveries": 1,
        "webhook_attempts": 1,
        "set_aside_rows": 1,
    }
    assert report.as_dict() == {**report.removed}
    # The other person's rows are all there.
    assert Lead.objects.filter(pk=other.pk).exists()
    assert Interaction.objects.filter(lead=other).count() == 2
    assert WebhookAttempt.objects.filter(delivery__run__transition__lead=other).count() == 1
    assert SetAside.objects.get().lead_id == other.pk


def test_the_api_answer_shows_the_whole_report(routed: Any) -> None:
    lead = routed("cy@example.com")
    nurture.lead_unsubscribe(lead_id=lead.pk)
    key = api_key_issue(name="Privacy desk").key
    ApiKey.objects.update(scopes=["leads:erase"])
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")

    answer = api.delete(f"/api/v1/leads/{lead.pk}")

    assert answer.status_code == 200
    erased = answer.json()["erased"]
    assert (erased["lead"], erased["enrollments"], erased["webhook_attempts"], erased["suppressed"]) == (1, 1, 1, 1)
    assert api.delete(f"/api/v1/leads/{lead.pk}").status_code == 404


def test_an_unsubscribed_lead_leaves_only_its_hash_marked_erased() -> None:
    lead = LeadFactory.create(email="Dee@Example.com")
    nurture.lead_unsubscribe(lead_id=lead.pk)

    report = erasure.lead_erase(lead_id=lead.pk)

    assert report.suppressed
    assert report.as_dict()["suppressed"] == 1
    entry = SuppressedAddress.objects.get()
    assert entry.address_hash == suppression.address_hash("dee@example.com")
    assert (entry.reason, entry.erased_at is not None) == ("unsubscribed", True)


def test_a_lead_marked_unsubscribed_but_not_listed_is_listed_at_erasure() -> None:
    # Unsubscribed before the list existed and missed by the migration (restored from a backup, say).
    lead = LeadFactory.create(email="eve@example.com", unsubscribed_at=timezone.now())
    assert erasure.lead_erase(lead_id=lead.pk).suppressed
    assert suppression.addresses_suppressed(addresses=["EVE@example.com"]) == {"eve@example.com": "unsubscribed"}


def test_an_address_that_bounced_stays_listed_after_erasure() -> None:
    lead = LeadFactory.create(email="fay@example.com")
    suppression.addresses_suppress(addresses=["fay@example.com"], reason=suppression.Reason.BOUNCED)
    assert erasure.lead_erase(lead_id=lead.pk).suppressed
    assert SuppressedAddress.objects.get().reason == "bounced"


def test_erasing_a_lead_that_never_unsubscribed_lists_nothing() -> None:
    lead = LeadFactory.create(email="gus@example.com")
    report = erasure.lead_erase(lead_id=lead.pk)
    assert not report.suppressed
    assert "suppressed" not in report.as_dict()
    assert not SuppressedAddress.objects.exists()


def test_a_lead_known_only_by_an_external_id_is_erased_without_a_list_entry() -> None:
    lead = Lead.objects.create(external_id="crm-7")
    assert erasure.lead_erase(lead_id=lead.pk).removed == {"lead": 1}
    assert not SuppressedAddress.objects.exists()


def test_a_missing_lead_is_said_so() -> None:
    with pytest.raises(Lead.DoesNotExist):
        erasure.lead_erase(lead_id=424242)


@pytest.fixture
def admin_client_logged(admin_user: User) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def test_the_admin_log_forgets_the_person(admin_client_logged: Client, admin_user: User) -> None:
    lead = LeadFactory.create(email="hal@example.com", first_name="Hal", last_name="Jordan")
    bystander = LeadFactory.create(email="ivy@example.com", first_name="Ivy")
    # A marketer edits the lead in the admin: the log names it by its address.
    url = reverse("admin:scoring_lead_change", args=[lead.pk])
    form = admin_client_logged.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update({"city": "Coast City", "attributes": "{}", "email": lead.email})
    assert admin_client_logged.post(url, data).status_code == 302
    visitor = Visitor.objects.create(key="hal-browser", lead=lead)
    LogEntry.objects.log_actions(admin_user.pk, [visitor], ADDITION, change_message="Tied to Hal Jordan")
    # An entry about another object that names the person (an inline's description).
    account = Account.objects.create(name="Ferris Air", domain="ferris.example")
    mention = [{"changed": {"name": "lead", "object": "HAL@example.com (Hal Jordan)", "fields": ["Owner"]}}]
    LogEntry.objects.log_actions(admin_user.pk, [account], CHANGE, change_message=json.dumps(mention))
    LogEntry.objects.log_actions(admin_user.pk, [bystander], CHANGE, change_message="Called Ivy")
    entries = LogEntry.objects.count()

    report = erasure.lead_erase(lead_id=lead.pk)

    assert report.admin_log_entries_scrubbed == 3
    assert report.as_dict()["admin_log_entries_scrubbed"] == 3
    assert LogEntry.objects.count() == entries, "who did what and when is kept"
    for text in ("hal@example.com", "Hal", "Jordan"):
        found = LogEntry.objects.filter(Q(object_repr__icontains=text) | Q(change_message__icontains=text))
        assert not found.exists(), [(e.object_repr, e.change_message) for e in found]
    about_lead = LogEntry.objects.get(object_id=str(lead.pk), content_type__model="lead")
    assert (about_lead.object_repr, about_lead.action_flag) == (f"lead {lead.pk} (erased)", CHANGE)
    assert about_lead.get_change_message() == erasure.SCRUBBED_MESSAGE
    account_entry = LogEntry.objects.get(object_id=str(account.pk), content_type__model="account")
    assert account_entry.object_repr == "Ferris Air"
    assert account_entry.get_change_message() == "Changed Owner for lead “[erased] ([erased])”."
    kept = LogEntry.objects.get(object_id=str(bystander.pk), content_type__model="lead")
    assert (kept.object_repr, kept.change_message) == ("ivy@example.com", "Called Ivy")


addresses = st.emails().map(str)
variants = st.tuples(st.sampled_from([str.lower, str.upper, str.title, str]), st.text(" \t\n", max_size=3))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=addresses, variant=variants, other=addresses)
def test_an_address_is_found_on_the_list_whatever_its_case_and_surrounding_space(
    address: str, variant: tuple[Any, str], other: str
) -> None:
    change, space = variant
    written = f"{space}{change(address)}{space}"
    suppression.addresses_suppress(addresses=[written], reason=suppression.Reason.UNSUBSCRIBED)

    assert suppression.addresses_suppressed(addresses=[address]) == {address.lower(): "unsubscribed"}
    if other.lower() != address.lower():
        assert suppression.address_hash(other) != suppression.address_hash(address)
        listed = SuppressedAddress.objects.filter(address_hash=suppression.address_hash(other)).exists()
        assert bool(suppression.addresses_suppressed(addresses=[other])) == listed


def test_leads_that_unsubscribed_before_the_list_existed_are_listed_by_the_migration() -> None:
    backfill = importlib.import_module("scoring.migrations.0013_suppression_list").unsubscribed_leads_are_suppressed
    gone = LeadFactory.create(email=" Joe@Example.com", unsubscribed_at=timezone.now() - timedelta(days=9))
    LeadFactory.create(email="kim@example.com")

    backfill(apps, None)
    backfill(apps, None)  # a migration run again (or a restored table) adds nothing twice

    entry = SuppressedAddress.objects.get()
    assert entry.address_hash == suppression.address_hash("joe@example.com")
    assert (entry.reason, entry.suppressed_at) == ("unsubscribed", gone.unsubscribed_at)


def a_lead_the_admin_knows(admin_client_logged: Client, email: str) -> Lead:
    """An unsubscribed lead with interactions (one set aside, one waiting to be scored), a
    set-aside row, and an edit in the admin's history."""
    lead = LeadFactory.create(email=email, first_name="Hal", last_name="Jordan", unsubscribed_at=timezone.now())
    interaction = InteractionFactory.create(lead=lead)
    # As a scoring batch sets one aside: out of the workers' way, with its error.
    scoring.engagement._interactions_set_aside([interaction.pk])
    setaside.rows_set_aside(
        kind="interaction", failures=[setaside.Failure.of(interaction.pk, lead.pk, ValueError(f"bad row of {email}"))]
    )
    InteractionFactory.create(lead=lead, type="page_view")  # waiting for a worker
    url = reverse("admin:scoring_lead_change", args=[lead.pk])
    form = admin_client_logged.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update({"city": "Coast City", "attributes": "{}", "email": lead.email})
    assert admin_client_logged.post(url, data, follow=True).status_code == 200  # its message read
    return lead


def assert_erased(lead: Lead) -> None:
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert not Interaction.objects.filter(lead_id=lead.pk).exists()
    assert not SetAside.objects.filter(lead_id=lead.pk).exists()
    assert not WaitingInteraction.objects.filter(lead_id=lead.pk).exists()
    # The address stays on the suppression list, as a hash: the person had unsubscribed.
    assert suppression.addresses_suppressed(addresses=[lead.email or ""]) == {
        lead.email: suppression.Reason.UNSUBSCRIBED
    }
    entries = LogEntry.objects.filter(content_type__model="lead", object_id=str(lead.pk))
    assert sorted(entries.values_list("action_flag", flat=True)) == [CHANGE, DELETION], "who did what is kept"
    for entry in entries:
        assert (entry.object_repr, entry.change_message) == (f"lead {lead.pk} (erased)", erasure.SCRUBBED_MESSAGE)
    for text in (lead.email or "", "Jordan"):
        found = LogEntry.objects.filter(Q(object_repr__icontains=text) | Q(change_message__icontains=text))
        assert not found.exists(), [(e.object_repr, e.change_message) for e in found]


def test_deleting_a_lead_in_the_admin_erases_it(admin_client_logged: Client) -> None:
    lead = a_lead_the_admin_knows(admin_client_logged, "hal@example.com")
    bystander = LeadFactory.create(email="ivy@example.com")

    url = reverse("admin:scoring_lead_delete", args=[lead.pk])
    response = admin_client_logged.post(url, {"post": "yes"}, follow=True)

    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "Erased 1 lead on request. Rows removed: interactions 2, interactions waiting to be scored 1,"
        " set-aside rows 1, admin log entries scrubbed 2."
        " 1 address stays on the suppression list, as a hash.",
        f"The lead “lead {lead.pk}” was deleted successfully.",
    ]
    assert_erased(lead)
    assert Lead.objects.filter(pk=bystander.pk).exists()


def test_a_scored_lead_is_erased_in_the_admin_though_no_one_deletes_its_rows_one_by_one(
    admin_client_logged: Client,
) -> None:
    """Its ledger rows and interactions have no Delete of their own in the admin; erasing
    the lead removes them all, and the confirmation asks for no permission per kind."""
    lead = a_lead_the_admin_knows(admin_client_logged, "hal@example.com")
    ScoringRuleFactory.create(name="Opens", points=5, interaction_types=["email_open"])
    InteractionFactory.create(lead=lead, type="email_open")
    scoring.interactions_score_pending()
    url = reverse("admin:scoring_lead_delete", args=[lead.pk])

    confirm = admin_client_logged.get(url)
    response = admin_client_logged.post(url, {"post": "yes"}, follow=True)

    assert confirm.status_code == 200
    assert not confirm.context["perms_lacking"]
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert shown[0] == (
        "Erased 1 lead on request. Rows removed: interactions 3, score entries 1, set-aside rows 1,"
        " admin log entries scrubbed 2. 1 address stays on the suppression list, as a hash."
    )
    assert_erased(lead)


def test_deleting_selected_leads_in_the_admin_erases_each(admin_client_logged: Client) -> None:
    leads = [a_lead_the_admin_knows(admin_client_logged, f"{name}@example.com") for name in ("hal", "kyle")]
    bystander = LeadFactory.create(email="ivy@example.com")

    response = admin_client_logged.post(
        reverse("admin:scoring_lead_changelist"),
        {"action": "delete_selected", "_selected_action": [lead.pk for lead in leads], "post": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "Erased 2 leads on request. Rows removed: interactions 4, interactions waiting to be scored 2,"
        " set-aside rows 2, admin log entries scrubbed 4."
        " 2 addresses stay on the suppression list, as a hash.",
        "Successfully deleted 2 leads.",
    ]
    for lead in leads:
        assert_erased(lead)
    assert Lead.objects.filter(pk=bystander.pk).exists()


def test_selected_leads_erased_meanwhile_or_failing_leave_no_address_and_are_said_so(
    admin_client_logged: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One of the selected leads is erased by the API while the admin confirms; another's
    erasure fails. The others are erased; the history names no address; the page says
    which lead to try again."""
    gone, failing, kept = (LeadFactory.create(email=f"{name}@example.com") for name in ("gus", "hal", "ivy"))
    erase = erasure.lead_erase

    def meanwhile(*, lead_id: int, **kwargs: Any) -> Any:
        if lead_id == gone.pk:
            erase(lead_id=lead_id)  # the API's, committed first
        if lead_id == failing.pk:
            raise DatabaseError("deadlock detected")
        return erase(lead_id=lead_id, **kwargs)

    monkeypatch.setattr(erasure, "lead_erase", meanwhile)
    response = admin_client_logged.post(
        reverse("admin:scoring_lead_changelist"),
        {"action": "delete_selected", "_selected_action": [gone.pk, failing.pk, kept.pk], "post": "yes"},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert shown[0].startswith("Erased 1 lead on request.")
    assert shown[1] == f"Not erased, try again: lead {failing.pk}."
    assert list(Lead.objects.values_list("pk", flat=True)) == [failing.pk]
    for text in ("gus@", "hal@", "ivy@"):
        assert not LogEntry.objects.filter(object_repr__icontains=text).exists()


def test_the_erasure_message_names_the_rows_in_the_reader_s_language(admin_client_logged: Client) -> None:
    lead = a_lead_the_admin_knows(admin_client_logged, "hal@example.com")

    url = reverse("admin:scoring_lead_delete", args=[lead.pk])
    response = admin_client_logged.post(url, {"post": "yes"}, follow=True, headers={"accept-language": "es"})

    shown = [str(message) for message in response.context["messages"]]
    assert shown[0] == (
        "Borrado 1 lead a petición. Filas eliminadas: interacciones 2, interacciones esperando a ser puntuadas 1,"
        " filas apartadas 1, entradas del registro"
        " del admin depuradas 2. 1 dirección se queda en la lista de supresión, como hash."
    )
    assert_erased(lead)


def test_a_lead_waiting_for_its_fit_leaves_no_queue_row_behind() -> None:
    lead, other = LeadFactory.create(fit_pending=True), LeadFactory.create(fit_pending=True)

    report = erasure.lead_erase(lead_id=lead.pk)

    assert report.removed == {"lead": 1, "leads_waiting_for_their_fit": 1}
    assert list(PendingFit.objects.values_list("lead_id", flat=True)) == [other.pk]
