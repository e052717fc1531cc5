"""Hostile input on every POST action of the sales queue page (claim, accept,
reject, qualify, disqualify, win, lose): NUL, lone surrogates, huge strings, odd
ids and page numbers. Never a 5xx; a refusal of what was typed is a 400 naming
the field; whatever is refused leaves the item, its history and the outbox as
they were."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import sales, views
from routing.models import Outcome, QueueItem, Rep
from scoring.models import GroupTransition
from tests.routing.factories import QueueItemFactory, RepFactory

pytestmark = pytest.mark.django_db
Status = QueueItem.Status
VERBS = ["claim", "accept", "reject", "qualify", "disqualify", "win", "lose"]
FIELDS = ["reason", *sales.BANT_FIELDS, "page"]

hostile_text = st.one_of(
    st.text(max_size=40),  # any code point but surrogates: NUL and other controls among them
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Zs", "Nd", "No"]), max_size=20),  # surrogates too
    st.sampled_from(
        [
            "",
            "   ",
            "\x00",
            "budget\x00approved",
            "\ud800",
            "a\udfffb",
            "\ufeff",
            "²",
            "١٢",
            "9" * 5000,
            "-1",
            "1e3",
            "x" * 200,
            "x" * 201,
            "y" * 300,
            "y" * 301,
            "z" * 100_000,
            "<script>alert(1)</script>",
            "'; DROP TABLE routing_queueitem; --",
        ]
    ),
)
odd_ids = st.sampled_from(["own", "other team", "gone", 0, 2**31, 2**63 - 1, 2**63, 10**30])


def form_body(data: dict[str, str]) -> str:
    """A urlencoded body as a browser (or anyone) may send it; lone surrogates go out as the
    bytes they would be in UTF-8 were they allowed, which is what a hostile client sends."""
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in data.items())


def snapshot(item_id: int) -> tuple[Any, ...]:
    item = QueueItem.objects.filter(pk=item_id).values().first()
    return (item, Outcome.objects.count(), GroupTransition.objects.count())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    verb=st.sampled_from(VERBS),
    status=st.sampled_from([Status.OPEN, Status.CLAIMED, Status.ACCEPTED, Status.QUALIFIED]),
    owned=st.booleans(),
    which=odd_ids,
    data=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), hostile_text, max_size=6),
)
def test_no_input_makes_a_sales_action_fail(
    verb: str, status: str, owned: bool, which: object, data: dict[str, str]
) -> None:
    rep, other = Rep.objects.get(user__username="fuzz-rep"), Rep.objects.get(user__username="fuzz-other")
    mine = QueueItemFactory.create(
        team=rep.team,
        owner=rep.user if owned or status != Status.OPEN else None,
        status=status,
        entered_at=timezone.now() - timedelta(hours=1),
    )
    theirs = QueueItemFactory.create(team=other.team, entered_at=timezone.now())
    item_id = {"own": mine.pk, "other team": theirs.pk, "gone": theirs.pk + 1000}.get(str(which), which)
    assert isinstance(item_id, int)
    url = reverse("sales:claim", args=[item_id]) if verb == "claim" else reverse("sales:act", args=[item_id, verb])
    client = Client()
    client.force_login(rep.user)
    before = snapshot(mine.pk), snapshot(theirs.pk)

    response = client.post(url, form_body(data), content_type="application/x-www-form-urlencoded")

    assert response.status_code in {302, 400, 404}, response.content[:500]
    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    if response.status_code == 400:
        [(level, message)] = said
        assert level == "error"
        assert any(f"{label}: " in message for label in views.FIELD_LABELS.values()), message
    if response.status_code != 302 or any(level == "error" for level, _ in said):
        assert (snapshot(mine.pk), snapshot(theirs.pk)) == before  # nothing half-stored
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("sales:queue"))
    if item_id == mine.pk and response.status_code == 302 and verb in ("reject", "disqualify", "lose"):
        mine.refresh_from_db()
        if mine.status in QueueItem.CLOSED_STATUSES:
            # As the server read it: bytes that are no UTF-8 (a lone surrogate's) become U+FFFD.
            sent = data.get("reason", "").encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            assert mine.reason == sent.strip()


@pytest.fixture(autouse=True)
def reps() -> None:
    RepFactory.create(user__username="fuzz-rep")
    RepFactory.create(user__username="fuzz-other")


def test_a_body_over_the_limit_is_refused_not_a_crash() -> None:
    rep = RepFactory.create()
    item = QueueItemFactory.create(team=rep.team, owner=rep.user, status=Status.ACCEPTED, entered_at=timezone.now())
    client = Client()
    client.force_login(rep.user)
    response = client.post(
        reverse("sales:act", args=[item.pk, "reject"]),
        form_body({"reason": "x" * 6_000_000}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    item.refresh_from_db()
    assert item.status == Status.ACCEPTED
