"""Campaigns: defined in the model file (round trip, every problem located, all or
nothing) and in the admin, where Marketing may add and change them."""

from __future__ import annotations

import html
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from scoring import model_file, services
from scoring.models import Campaign, ScoreGroup
from tests.routing.factories import marketer

pytestmark = pytest.mark.django_db

FILE = """\
leadflow_model: 1
campaigns:
  - key: spring-sale
    name: Spring sale
    channel: email
    cost: 1200.50
    start_date: 2026-03-01
    end_date: 2026-03-31
  - key: webinar
    name: Autumn webinar
  - key: ads
    name: Search ads
    channel: paid search
    cost: 600
"""


def test_campaigns_import_and_export_the_same_file() -> None:
    summary = services.scoring_model_import(spec=model_file.load_text(FILE))
    assert summary.sections == ("Campaigns: 3 created, 0 updated.",)
    spring = Campaign.objects.get(key="spring-sale")
    assert (spring.name, spring.channel, spring.cost, spring.start_date, spring.end_date) == (
        "Spring sale",
        "email",
        Decimal("1200.50"),
        date(2026, 3, 1),
        date(2026, 3, 31),
    )
    webinar = Campaign.objects.get(key="webinar")
    assert (webinar.channel, webinar.cost, webinar.start_date) == ("", None, None)
    exported = model_file.dump_data(services.scoring_model_export())
    assert exported["campaigns"] == [
        {"key": "ads", "name": "Search ads", "channel": "paid search", "cost": 600},
        {
            "key": "spring-sale",
            "name": "Spring sale",
            "channel": "email",
            "cost": 1200.5,
            "start_date": "2026-03-01",
            "end_date": "2026-03-31",
        },
        {"key": "webinar", "name": "Autumn webinar"},
    ]
    # The export imports back to the very same campaigns, changing nothing.
    text = model_file.dump_text(services.scoring_model_export())
    again = services.scoring_model_import(spec=model_file.load_text(text))
    assert "Campaigns: 0 created, 0 updated." in again.sections
    assert model_file.dump_text(services.scoring_model_export()) == text


def test_reimport_updates_by_key_and_keeps_campaigns_left_out() -> None:
    services.scoring_model_import(spec=model_file.load_text(FILE))
    changed = "leadflow_model: 1\ncampaigns:\n  - {key: ads, name: Search ads, cost: 750.25}\n"
    summary = services.scoring_model_import(spec=model_file.load_text(changed))
    assert summary.sections == (
        "Campaigns: 0 created, 1 updated. Not in the file, left as they are: spring-sale, webinar",
    )
    ads = Campaign.objects.get(key="ads")
    assert (ads.cost, ads.channel) == (Decimal("750.25"), "")  # the file is the campaign: its channel went
    assert Campaign.objects.count() == 3


BROKEN = """\
leadflow_model: 1
campaigns:
  - key: spring sale
    name: Spring sale
    cost: -5
  - key: ads
    cost: 12.345
    colour: red
  - key: ads
    name: Again
    cost: lots
    start_date: 2026-04-01
    end_date: 2026-03-01
  - key: late
    name: Late
    start_date: 31/03/2026
  - just a name
"""


def test_every_problem_is_named_by_section_and_field() -> None:
    with pytest.raises(model_file.ModelFileError) as raised:
        model_file.load_text(BROKEN)
    assert raised.value.errors == [
        "campaigns[0].key: 'spring sale' may hold only ASCII letters (a-z, A-Z), digits, - and _ (at most 80)",
        "campaigns[0].cost: must be 0 or more",
        "campaigns[1].colour: unknown key (allowed: channel, cost, end_date, key, name, start_date)",
        "campaigns[1].name: required",
        "campaigns[1].cost: at most 2 decimals",
        "campaigns[2].key: 'ads' is also the key of campaigns[1]",
        "campaigns[2].end_date: 2026-03-01 is before start_date (2026-04-01)",
        "campaigns[2].cost: 'lots' is not a number such as 1200.50",
        "campaigns[3].start_date: '31/03/2026' is not a day written YYYY-MM-DD, e.g. 2026-03-31",
        "campaigns[4]: must be a mapping with key and name",
    ]


def test_a_bad_campaign_imports_nothing_of_the_file() -> None:
    text = (
        "leadflow_model: 1\nscore_groups:\n  - {key: hot, name: Hot, min_score: 40}\nrules: []\n"
        "campaigns:\n  - {key: ads, name: Ads, cost: [1]}\n"
    )
    with pytest.raises(model_file.ModelFileError) as raised:
        services.scoring_model_import(spec=model_file.load_text(text))
    assert raised.value.errors == ["campaigns[0].cost: must be a number such as 1200.50, not list"]
    assert not ScoreGroup.objects.exists()
    assert not Campaign.objects.exists()


@pytest.fixture
def marketing() -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(marketer())
    return client


def form(**fields: Any) -> dict[str, Any]:
    return {
        "key": "spring",
        "name": "Spring sale",
        "channel": "email",
        "cost": "",
        "start_date": "",
        "end_date": "",
        **fields,
    }


def test_a_marketer_adds_a_campaign_in_the_admin_and_mistakes_are_named_on_the_field(marketing: Client) -> None:
    url = reverse("admin:scoring_campaign_add")
    refused = marketing.post(url, form(cost="-1", start_date="2026-04-01", end_date="2026-03-01"))
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert errors["cost"] == ["Ensure this value is greater than or equal to 0."]
    assert errors["end_date"] == ["The end date must not be before the start date."]
    assert not Campaign.objects.exists()
    saved = marketing.post(url, form(cost="1000", start_date="2026-03-01", end_date="2026-03-31"))
    assert saved.status_code == 302
    campaign = Campaign.objects.get(key="spring")
    assert campaign.cost == Decimal("1000.00")
    changed = marketing.post(
        reverse("admin:scoring_campaign_change", args=[campaign.pk]), form(name="Spring sale 2026", cost="1100")
    )
    assert changed.status_code == 302
    listed = html.unescape(marketing.get(reverse("admin:scoring_campaign_changelist")).content.decode())
    assert "Spring sale 2026" in listed


def test_the_migration_lets_marketing_add_and_change_campaigns() -> None:
    codenames = set(
        Group.objects.get(name="Marketing")
        .permissions.filter(content_type__app_label="scoring", content_type__model="campaign")
        .values_list("codename", flat=True)
    )
    assert codenames == {"view_campaign", "add_campaign", "change_campaign"}
