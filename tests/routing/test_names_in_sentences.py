"""A name in one of the sales page's sentences turns only itself: a lead's first name
holding a right-to-left override ("\u202eadnarF") leaves the rest of the sentence readable."""

from __future__ import annotations

import pytest
from django.conf import settings

from scoring.models import Lead
from tests.routing.factories import RepFactory
from tests.routing.test_release import claimed_by
from tests.routing.test_sales import post, signed_in


@pytest.mark.django_db
def test_a_name_that_turns_text_right_to_left_turns_only_itself_in_the_message() -> None:
    alice = RepFactory.create(user__username="alice")
    item = claimed_by(alice)
    Lead.objects.filter(pk=item.lead_id).update(first_name="\u202eadnarF", last_name="")
    client = signed_in(alice)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    team = alice.team.name

    said = post(client, item, "release")[1]

    # U+2068 … U+2069 set the name apart: the override ends with it, the sentence reads on.
    assert said == [f"\u2068\u202eadnarF\u2069 vuelve a la cola de {team}: cualquier vendedor puede tomarlo."]
