"""Sales actions on the queue page: each through its view, the refusals reps are
told, what goes back to nurture, and the claim race on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from nurture.models import Enrollment
from routing import sales, services
from routing.models import Outcome, QueueItem, Rep, RoutingAction, RoutingRule
from scoring.models import GroupTransition, Lead
from scoring.outcomes import AMOUNT_MAX
from tests.conftest import at_once
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import QueueItemFactory, RepFactory

Status = QueueItem.Status
BANT = {"budget": "20k this year", "authority": "CTO signs", "need": "manual scoring hurts", "timeline": "June"}


def signed_in(rep: Rep) -> Client:
    client = Client()
    client.force_login(rep.user)
    return client


def post(client: Client, item: QueueItem, verb: str, **data: str) -> tuple[Any, list[str]]:
    """POST an action; returns the response and the messages the page then shows."""
    url = reverse("sales:claim", args=[item.pk]) if verb == "claim" else reverse("sales:act", args=[item.pk, verb])
    response = client.post(url, data)
    if response.status_code != 302:
        return response, [str(m) for m in get_messages(response.wsgi_request)]
    page = client.get(response["Location"])
    said = [str(m) for m in page.context["messages"]]
    html = page.content.decode()
    assert all(escape(text) in html for text in said)
    return response, said


def item_in(rep: Rep, **kwargs: Any) -> QueueItem:
    fields = {"team": rep.team, "entered_at": timezone.now() - timedelta(hours=1), **kwargs}
    return QueueItemFactory.create(lead__first_name="Grace", lead__last_name="Hopper", **fields)


@pytest.mark.django_db
def test_a_rep_claims_accepts_qualifies_and_wins_a_lead_through_the_page() -> None:
    rep = RepFactory.create(user__username="alice")
    item = item_in(rep)
    client = signed_in(rep)

    response, said = post(client, item, "claim", page="2")
    assert response.status_code == 302
    assert response["Location"] == reverse("sales:queue") + "?page=2"
    assert said == ["Claimed Grace Hopper. It is yours: accept or reject it."]
    item.refresh_from_db()
    assert (item.status, item.owner_id, item.claimed_at is not None) == (Status.CLAIMED, rep.user_id, True)
    assert Lead.objects.get(pk=item.lead_id).owner_id == rep.user_id

    _, said = post(client, item, "accept")
    assert said == ["Accepted Grace Hopper."]
    _, said = post(client, item, "qualify", **BANT)
    assert said == ["Qualified Grace Hopper."]
    item.refresh_from_db()
    assert (item.status, item.budget, item.authority, item.need, item.timeline) == (
        Status.QUALIFIED,
        *BANT.values(),
    )
    assert GroupTransition.objects.filter(lead=item.lead, kind="qualified").count() == 1

    _, said = post(client, item, "win")
    assert said == ["Marked Grace Hopper won."]
    item.refresh_from_db()
    assert item.status == Status.WON
    assert item.closed_at is not None
    assert Lead.objects.get(pk=item.lead_id).lifecycle_stage == "customer"
    assert list(Outcome.objects.filter(item=item).order_by("at", "id").values_list("kind", "user_id")) == [
        (kind, rep.user_id) for kind in ("claimed", "accepted", "qualified", "won")
    ]
    # Closed: gone from the page.
    assert client.get(reverse("sales:queue")).context["queue"].rows == []


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "status"), [("reject", "rejected"), ("disqualify", "disqualified")])
def test_rejected_or_disqualified_leads_go_back_to_nurture_with_the_reason_kept(verb: str, status: str) -> None:
    long_term = SequenceFactory.create(key="long-term", name="Long-term nurture")
    StepFactory.create(sequence=long_term)
    rule = RoutingRule.objects.create(key="back", name="Back to nurture", trigger="disqualified")
    RoutingAction.objects.create(rule=rule, kind="enroll", sequence=long_term)
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user)  # assigned by routing: no need to claim first

    _, said = post(signed_in(rep), item, verb, reason="  Student project, no budget  ")

    assert said[0].startswith(("Rejected Grace Hopper", "Disqualified Grace Hopper"))
    item.refresh_from_db()
    assert (item.status, item.reason) == (status, "Student project, no budget")
    outcome = Outcome.objects.get(item=item)
    assert (outcome.kind, outcome.reason, outcome.user_id) == (status, "Student project, no budget", rep.user_id)
    services.transitions_route()
    assert Enrollment.objects.filter(lead=item.lead, sequence=long_term, status="active").exists()


@pytest.mark.django_db
def test_marking_lost_needs_a_reason_and_keeps_it() -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.ACCEPTED)
    client = signed_in(rep)

    _, said = post(client, item, "lose", reason="")
    assert said == ["Grace Hopper: Reason: say why."]
    _, said = post(client, item, "lose", reason="Chose a competitor")
    assert said == ["Marked Grace Hopper lost; the reason is kept."]
    item.refresh_from_db()
    assert (item.status, item.reason) == (Status.LOST, "Chose a competitor")


@pytest.mark.django_db
def test_errors_name_the_field_and_change_nothing() -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.ACCEPTED)
    client = signed_in(rep)

    response, said = post(client, item, "qualify", budget="10k", authority="", need="x" * 201, timeline="soon")
    assert response.status_code == 400  # the page again, with what to fix
    assert said == [
        "Grace Hopper: Authority: Say what you learned about the lead's authority. "
        "Need: At most 200 characters (this has 201)."
    ]
    assert escape(said[0]) in response.content.decode()
    response, said = post(client, item, "reject", reason="y" * 301)
    assert response.status_code == 400
    assert said == ["Grace Hopper: Reason: at most 300 characters (this has 301)."]
    response, said = post(client, item, "disqualify", reason="   ")
    assert response.status_code == 400
    assert said == ["Grace Hopper: Reason: say why."]
    item.refresh_from_db()
    assert item.status == Status.ACCEPTED
    assert not Outcome.objects.exists()


@pytest.mark.django_db
def test_a_refused_form_comes_back_in_the_order_it_was_sent_from_with_the_cursor_on_the_first_fault() -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.ACCEPTED)
    client = signed_in(rep)

    response, _ = post(client, item, "qualify", budget="10k", authority=" ", need=" ", sort="probability")

    assert response.status_code == 400
    assert response.context["sort"] == "probability"
    html = response.content.decode()
    assert html.count(" autofocus") == 1
    assert f'id="authority-{item.pk}" type="text" maxlength="200" required' in html
    assert html.index(" autofocus") < html.index(f'id="need-{item.pk}"')  # on authority, the first at fault
    response = client.post(reverse("sales:act", args=[item.pk, "qualify"]), {**BANT, "sort": "probability"})
    assert response["Location"] == reverse("sales:queue") + "?sort=probability"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("verb", "data", "said"),
    [
        ("reject", {"reason": "no budget\x00"}, "Reason: may not contain the NUL character."),
        ("lose", {"reason": "\x00"}, "Reason: may not contain the NUL character."),
        ("accept", {"reason": "\x00"}, "Reason: may not contain the NUL character."),
        ("qualify", {**BANT, "need": "a\x00b"}, "Need: May not contain the NUL character."),
        ("qualify", {**BANT, "budget": "\x00", "timeline": "\x00"}, "Budget: May not contain the NUL character. "),
    ],
)
def test_a_nul_in_a_reason_or_bant_field_is_a_form_error_naming_the_field(
    verb: str, data: dict[str, str], said: str
) -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.ACCEPTED)

    response, messages = post(signed_in(rep), item, verb, **data)

    assert response.status_code == 400
    [message] = messages
    assert message.startswith(f"Grace Hopper: {said}")
    item.refresh_from_db()
    assert (item.status, item.reason, item.budget) == (Status.ACCEPTED, "", "")
    assert not Outcome.objects.exists()
    assert not GroupTransition.objects.filter(lead=item.lead).exists()


@pytest.mark.django_db
def test_the_service_refuses_text_the_database_cannot_store_by_field() -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.ACCEPTED)
    with pytest.raises(sales.InputRefused, match=r"^reason: may not contain unpaired surrogate"):
        sales.item_act(item_id=item.pk, user=rep.user, kind="rejected", reason="\ud800")
    bant = sales.Bant(**{**BANT, "authority": "CTO\udfff"})
    with pytest.raises(sales.InputRefused, match=r"^authority: May not contain unpaired surrogate"):
        sales.item_act(item_id=item.pk, user=rep.user, kind="qualified", bant=bant)
    item.refresh_from_db()
    assert item.status == Status.ACCEPTED
    assert not Outcome.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("verb", "status", "typed"),
    [
        ("qualify", Status.ACCEPTED, {}),
        ("qualify", Status.ACCEPTED, {**BANT, "budget": ""}),
        ("disqualify", Status.ACCEPTED, {"reason": ""}),
        ("reject", Status.CLAIMED, {"reason": "x" * 301}),
        ("win", Status.QUALIFIED, {"amount": "twelve"}),
        ("lose", Status.QUALIFIED, {"reason": ""}),
    ],
)
def test_a_teammates_lead_is_refused_as_not_yours_before_what_was_typed_is_checked(
    verb: str, status: str, typed: dict[str, str]
) -> None:
    """What a rep types about a lead a teammate holds is never checked: the answer is that
    the lead is not theirs, as when what they typed is right, not their form's problems."""
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    held_by_bob = item_in(alice, owner=bob.user, status=status)

    response, said = post(signed_in(alice), held_by_bob, verb, **typed)

    assert response.status_code == 302
    assert said == ["Grace Hopper: This lead is not yours: claim it first."]
    held_by_bob.refresh_from_db()
    assert (held_by_bob.owner_id, held_by_bob.status) == (bob.user_id, status)


@pytest.mark.django_db
def test_a_teammates_lead_is_refused_as_not_yours_before_a_release_reason_is_checked() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    held_by_bob = item_in(alice, owner=bob.user, status=Status.CLAIMED)

    response, said = post(signed_in(alice), held_by_bob, "release", reason="x" * 301)

    assert response.status_code == 302
    assert said == ["Grace Hopper: This lead is not yours: bob has it now."]
    held_by_bob.refresh_from_db()
    assert (held_by_bob.owner_id, held_by_bob.status) == (bob.user_id, Status.CLAIMED)


@pytest.mark.django_db
def test_refusals_tell_the_rep_why() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    claimed_by_bob = item_in(alice, owner=bob.user, status=Status.CLAIMED)
    assigned_to_bob = item_in(alice, owner=bob.user)
    waiting = item_in(alice)
    mine = item_in(alice, owner=alice.user, status=Status.CLAIMED)
    client = signed_in(alice)

    assert post(client, claimed_by_bob, "claim")[1] == ["Already claimed by bob."]
    assert post(client, assigned_to_bob, "claim")[1] == ["Already assigned to bob."]
    assert post(client, claimed_by_bob, "accept")[1] == ["Grace Hopper: This lead is not yours: claim it first."]
    assert post(client, waiting, "accept")[1] == ["Grace Hopper: This lead is not yours: claim it first."]
    assert post(client, mine, "win")[1] == ["Grace Hopper: This lead is claimed: it cannot be won now."]
    assert post(client, mine, "claim")[1] == ["This lead is claimed, not waiting."]
    assert QueueItem.objects.get(pk=claimed_by_bob.pk).owner_id == bob.user_id
    assert QueueItem.objects.get(pk=mine.pk).status == Status.CLAIMED

    # In the rep's language: Spanish.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    assert post(client, claimed_by_bob, "claim")[1] == ["Ya lo tomó bob."]
    assert post(client, waiting, "accept")[1] == ["Grace Hopper: Este lead no es tuyo: tómalo primero."]
    assert post(client, mine, "win")[1] == ["Grace Hopper: Este lead está tomado: ahora no puede pasar a ganado."]
    assert post(client, mine, "lose", reason=" ")[1] == ["Grace Hopper: Motivo: di por qué."]


@pytest.mark.django_db
def test_losing_a_claim_race_names_the_winner_by_full_name_else_user_name() -> None:
    alice = RepFactory.create(user__username="alice", user__first_name="Alice", user__last_name="Ball")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    first, second = item_in(alice), item_in(alice)
    sales.item_claim(item_id=first.pk, user=alice.user)
    sales.item_claim(item_id=second.pk, user=bob.user)

    with pytest.raises(sales.ActionRefused, match=r"^Already claimed by Alice Ball\.$"):
        sales.item_claim(item_id=first.pk, user=bob.user)
    with pytest.raises(sales.ActionRefused, match=r"^Already claimed by bob\.$"):
        sales.item_claim(item_id=second.pk, user=alice.user)


@pytest.mark.django_db
def test_actions_are_posts_and_unknown_ones_are_not_found() -> None:
    rep = RepFactory.create()
    item = item_in(rep)
    client = signed_in(rep)
    assert client.get(reverse("sales:claim", args=[item.pk])).status_code == 405
    assert client.get(reverse("sales:act", args=[item.pk, "accept"])).status_code == 405
    assert client.post(reverse("sales:act", args=[item.pk, "promote"])).status_code == 404
    assert client.post(reverse("sales:claim", args=[item.pk + 1000])).status_code == 404


@pytest.mark.django_db
def test_forms_carry_the_csrf_token() -> None:
    rep = RepFactory.create()
    item = item_in(rep)
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep.user)
    page = client.get(reverse("sales:queue")).content.decode()
    assert page.count("csrfmiddlewaretoken") >= 2  # log out, claim
    assert client.post(reverse("sales:claim", args=[item.pk])).status_code == 403  # no token


# --- the claim race -------------------------------------------------------------------


def claim_together(item: QueueItem, reps: list[Rep]) -> dict[str, str]:
    """Each rep claims ``item`` in its own thread (its own connection), all released
    at once by a barrier; returns "won" or the refusal per username."""

    def claim(rep: Rep) -> str:
        try:
            sales.item_claim(item_id=item.pk, user=rep.user)
        except sales.ActionRefused as exc:
            return str(exc)
        return "won"

    outcomes = at_once(*[lambda rep=rep: claim(rep) for rep in reps], timeout=30)
    return {rep.user.username: outcome for rep, outcome in zip(reps, outcomes, strict=True)}


@pytest.mark.services
def test_two_reps_claiming_at_once_exactly_one_wins(postgres: None, transactional_db: None) -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    for item in [item_in(alice) for _ in range(5)]:
        results = claim_together(item, [alice, bob])

        winners = [name for name, result in results.items() if result == "won"]
        assert len(winners) == 1, results
        (loser,) = {"alice", "bob"} - set(winners)
        assert results[loser] == f"Already claimed by {winners[0]}."
        item.refresh_from_db()
        assert item.owner is not None
        assert (item.status, item.owner.username) == (Status.CLAIMED, winners[0])
        assert list(Outcome.objects.filter(item=item).values_list("kind", flat=True)) == ["claimed"]


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "kept"), [("12,500.50", "12500.50"), ("  900 ", "900"), ("", None)])
def test_a_rep_marks_a_deal_won_with_its_amount_or_none(typed: str, kept: str | None) -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.QUALIFIED)

    _, said = post(signed_in(rep), item, "win", amount=typed)

    assert said == ["Marked Grace Hopper won."]
    won = Outcome.objects.get(item=item, kind="won")
    assert won.amount == (None if kept is None else Decimal(kept))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "typed", "kept"),
    [
        ("es", "18.500,50", "18500.50"),
        ("es", "18500,50", "18500.50"),
        ("es", "7.250", "7250"),
        ("es", "12500.50", "12500.50"),
        ("en", "12500,50", "12500.50"),
        ("en", "1,005", "1005"),
        # A currency sign before or after the figure, as people write a price: the figure.
        ("en", "$24,000", "24000"),
        ("en", "$ 24,000.50", "24000.50"),
        ("es", "18.500,50 €", "18500.50"),
        ("es", "₡1.500.000", "1500000"),
        # A sign of more than one character, or the currency's ISO 4217 code, likewise, with
        # or without a space: S/ (sol), US$, R$, Bs., PEN.
        ("es", "S/ 24.500,00", "24500.00"),
        ("es", "S/100", "100"),
        ("es", "S/. 7.250", "7250"),
        ("es", "PEN 100", "100"),
        ("es", "100 PEN", "100"),
        ("es", "1.250,50PEN", "1250.50"),
        ("en", "US$ 24,000", "24000"),
        ("es", "R$1.500", "1500"),
        ("es", "Bs. 900", "900"),
        ("es", "24.500 S/", "24500"),
        ("es", "Gs. 150.000", "150000"),
        ("es", "Q. 1.000,50", "1000.50"),
    ],
)
def test_a_deal_amount_is_read_as_the_pages_language_writes_figures(language: str, typed: str, kept: str) -> None:
    """A rep reading the page in Spanish writes 18.500,50 for eighteen thousand five hundred
    and fifty cents; the comma is never taken for a thousands separator there (18500,50 was
    kept as 1850050)."""
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.QUALIFIED)
    client = signed_in(rep)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    response, _ = post(client, item, "win", amount=typed)

    assert response.status_code == 302
    assert Outcome.objects.get(item=item, kind="won").amount == Decimal(kept)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("1.500", "a number such as 12500 or 12500.50"),
        ("1,50,0", "a number"),
        # A group of thousands starts with a digit other than 0: these are no figure written so.
        ("0,500", "a number"),
        ("0,001", "a number"),
        # One sign, before or after: two, or one inside the figure, are no price written so.
        ("$$24,000", "a number"),
        ("$24,000€", "a number"),
        ("24$000", "a number"),
        ("$", "a number"),
        ("S/", "a number"),
        ("PEN", "a number"),
        ("S/ 24,000 PEN", "a number"),
        # No currency is written in lower case, nor in two or four letters alone: "12 mil"
        # and "12k" are no 12.
        ("12 mil", "a number"),
        ("12k", "a number"),
        ("12 US", "a number"),
        ("EURO 12", "a number"),
        ("#12", "a number"),
        ("S/-5", "a number"),
        # Three capitals are a currency only if ISO 4217 lists them, letters and a mark only
        # if a currency is written so: "ABC1" and "No.5" were read as 1 and 5.
        ("ABC1", "a number"),
        ("100 XYZ", "a number"),
        ("No.5", "a number"),
    ],
)
def test_an_amount_grouped_as_the_other_language_groups_is_refused_not_guessed(typed: str, told: str) -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.QUALIFIED)

    response, said = post(signed_in(rep), item, "win", amount=typed)

    assert response.status_code == 400
    assert told in said[0]
    assert not Outcome.objects.filter(item=item, kind="won").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("twelve", "Deal amount: a number such as 12500 or 12500.50, or nothing."),
        ("-5", "Deal amount: a number such as 12500 or 12500.50, or nothing."),
        ("1.005", "Deal amount: a number such as 12500 or 12500.50, or nothing."),
        ("9" * 15, f"Deal amount: at most {AMOUNT_MAX}."),
    ],
)
def test_an_amount_that_is_not_one_is_named_and_nothing_changes(typed: str, told: str) -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.QUALIFIED)

    response, said = post(signed_in(rep), item, "win", amount=typed)

    assert response.status_code == 400
    assert said == [f"Grace Hopper: {told}"]
    item.refresh_from_db()
    assert item.status == Status.QUALIFIED
    assert not Outcome.objects.filter(item=item, kind="won").exists()
    assert Lead.objects.get(pk=item.lead_id).lifecycle_stage != "customer"


@pytest.mark.django_db
def test_a_refused_amount_is_named_in_spanish_as_its_box_is_labelled() -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.QUALIFIED)
    client = signed_in(rep)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"

    response, said = post(client, item, "win", amount="doce mil")

    assert response.status_code == 400
    assert said == ["Grace Hopper: Importe del negocio: un número como 12500 o 12.500,50, o nada."]
    assert "Importe del negocio (opcional)" in response.content.decode()


@pytest.mark.django_db
def test_only_a_deal_won_has_an_amount() -> None:
    rep = RepFactory.create()
    item = item_in(rep, owner=rep.user, status=Status.QUALIFIED)

    with pytest.raises(sales.InputRefused, match="only a deal won has an amount"):
        sales.item_act(item_id=item.pk, user=rep.user, kind="lost", reason="chose a rival", amount=Decimal("10"))
    assert not Outcome.objects.filter(item=item, kind="lost").exists()


@pytest.mark.django_db
def test_what_a_refused_form_shows_again_is_text_not_markup() -> None:
    """The values a rep typed come back in the refused form: markup in them is shown as
    typed, never run on the page (another rep may have pasted it from a lead's email)."""
    rep = RepFactory.create()
    typed = '"><script>alert(1)</script>'
    qualified = item_in(rep, owner=rep.user, status=Status.QUALIFIED)
    accepted = item_in(rep, owner=rep.user, status=Status.ACCEPTED)
    client = signed_in(rep)

    for item, verb, data in [
        (qualified, "win", {"amount": typed}),
        (accepted, "qualify", {**BANT, "budget": typed, "authority": " "}),
    ]:
        response, _ = post(client, item, verb, **data)

        assert response.status_code == 400
        html = response.content.decode()
        assert "<script>alert(1)" not in html
        assert f'value="{escape(typed)}"' in html
