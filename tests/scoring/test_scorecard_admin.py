"""Scorecards in the admin: the Scorecards list counts each one's groups and rules and links
to them; the live lists show and filter by scorecard; a draft's rule, group and decay pages
offer the draft's own scorecards and refuse a clash on the field."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from scoring import model_file, services
from scoring.models import DecayPolicy, LeadScore, Scorecard, ScoreGroup, ScoringRule
from scoring.services import versions
from tests.scoring.test_admin_pages import rule_form
from tests.scoring.test_scorecards import TWO_SCORECARDS, page_views, two_scorecards

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def rows(text: str) -> list[list[str]]:
    """The result list's rows as their cells' text."""
    body = text.split('id="result_list"')[1].split("</table>")[0]
    found = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>")[1], re.S):
        cells = re.findall(r"<t[dh]([^>]*)>(.*?)</t[dh]>", row, re.S)
        found.append([re.sub(r"<[^>]+>", "", cell).strip() for attrs, cell in cells if "action-checkbox" not in attrs])
    return found


def test_the_scorecards_list_counts_groups_and_rules_and_links_to_them(admin: Client) -> None:
    services.scoring_model_import(spec=two_scorecards())
    listed = page(admin, reverse("admin:scoring_scorecard_changelist"))
    assert [row[:5] for row in rows(listed)] == [
        ["Books", "books", "", "1", "1"],
        ["Toys", "toys", "", "2", "2"],
    ]
    rules_of_toys = reverse("admin:scoring_scoringrule_changelist") + "?scorecard=toys"
    assert f'href="{rules_of_toys}"' in listed
    names = [row[0] for row in rows(page(admin, rules_of_toys))]
    assert sorted(names) == ["Parent", "Toy pages"]
    groups = rows(page(admin, reverse("admin:scoring_scoregroup_changelist") + "?scorecard=toys"))
    assert [(row[0], row[2]) for row in groups] == [("Warm for toys", "Toys"), ("Hot for toys", "Toys")]


def test_the_live_lists_show_every_scorecard_with_its_own_lead_counts(admin: Client) -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"title": "Parent"})
    page_views(lead, "toys", 3)  # 10 fit + 12: warm for toys
    services.interactions_score_pending()
    assert LeadScore.objects.get(lead=lead, scorecard__key="toys").score_group.key == "toys-warm"  # type: ignore[union-attr]

    groups = rows(page(admin, reverse("admin:scoring_scoregroup_changelist")))
    by_name = {row[0]: row for row in groups}
    assert next(row[0] for row in groups) == "Warm"  # the default scorecard's first
    assert by_name["Warm for toys"][2] == "Toys"
    assert by_name["Warm for toys"][5] == "1"
    assert by_name["Hot for books"][5] == "0"
    assert by_name["Warm"][2] == "Default scorecard"
    default_only = rows(page(admin, reverse("admin:scoring_scoregroup_changelist") + "?scorecard=default"))
    assert [row[0] for row in default_only] == ["Warm"]

    rules = rows(page(admin, reverse("admin:scoring_scoringrule_changelist")))
    assert {row[0]: row[2] for row in rules}["Book pages"] == "Books"


def test_a_live_rule_shows_its_scorecard_and_keeps_it(admin: Client) -> None:
    services.scoring_model_import(spec=two_scorecards())
    rule = ScoringRule.every_scorecard.get(key="book-pages")
    text = page(admin, reverse("admin:scoring_scoringrule_change", args=[rule.pk]))
    assert 'name="scorecard"' not in text
    assert "Books" in text.split("field-scorecard")[1][:400]


def draft_of_two_scorecards() -> Any:
    services.scoring_model_import(spec=two_scorecards())
    versions.draft_import(spec=model_file.load_text(TWO_SCORECARDS), user=None, name="another draft")
    return versions.draft_create(user=None, name="toys and books")


def test_a_draft_rule_offers_the_draft_s_own_scorecards_and_moves_to_one(admin: Client) -> None:
    draft = draft_of_two_scorecards()
    rule = ScoringRule.all_versions.get(version=draft, key="book-pages")
    url = reverse("admin:scoring_draftscoringrule_change", args=[rule.pk])
    text = page(admin, url)
    offered = re.findall(
        r'<option value="(\d*)"[^>]*>([^<]*)</option>', text.split('name="scorecard"')[1].split("</select>")[0]
    )
    mine = {str(pk): name for pk, name in Scorecard.all_versions.filter(version=draft).values_list("pk", "name")}
    assert dict(offered) == {"": "Default scorecard", **mine}

    toys = Scorecard.all_versions.get(version=draft, key="toys")
    form = rule_form(
        name="Book pages",
        key="book-pages",
        dimension="engagement",
        points="3",
        interaction_types=["page_view"],
        scorecard=str(toys.pk),
        conditions=[("url", "contains", "/books")],
    )
    form["conditions-INITIAL_FORMS"] = "0"
    ScoringRule.all_versions.get(pk=rule.pk).conditions.all().delete()
    saved = admin.post(url, form)
    assert saved.status_code == 302, html.unescape(saved.content.decode())[:3000]
    rule.refresh_from_db()
    assert rule.scorecard == toys
    # Another draft's (or the live) scorecard is not a choice.
    live_books = Scorecard.objects.get(key="books")
    refused = admin.post(url, {**form, "scorecard": str(live_books.pk)})
    assert refused.status_code == 200
    assert "Select a valid choice" in html.unescape(refused.content.decode())
    # The draft's page lists the rule under its scorecard.
    draft_page = page(admin, reverse("admin:scoring_modelversion_change", args=[draft.pk]))
    assert re.search(r"<td>Book pages</td><td>Toys</td>", draft_page)


def test_a_draft_group_s_threshold_is_unique_within_its_scorecard_only(admin: Client) -> None:
    draft = draft_of_two_scorecards()
    books = Scorecard.all_versions.get(version=draft, key="books")
    url = reverse("admin:scoring_draftscoregroup_add") + f"?version={draft.pk}"
    form = {"name": "Warm for books", "key": "books-warm", "min_score": "20", "leave_below": "", "description": ""}
    # 20 is the default scorecard's Warm and Toys' Warm for toys, and Hot for books: refused in books only.
    refused = admin.post(url, {**form, "scorecard": str(books.pk)})
    assert refused.status_code == 200
    assert "Another group of this scorecard in the draft has this minimum score." in html.unescape(
        refused.content.decode()
    )
    saved = admin.post(url, {**form, "min_score": "10", "scorecard": str(books.pk)})
    assert saved.status_code == 302
    assert ScoreGroup.all_versions.get(version=draft, key="books-warm").scorecard == books


def test_a_draft_decay_policy_shows_its_scorecard_and_cannot_take_another_s(admin: Client) -> None:
    draft = draft_of_two_scorecards()
    toys = Scorecard.all_versions.get(version=draft, key="toys")
    policy = DecayPolicy.all_versions.get(version=draft, scorecard=toys)
    url = reverse("admin:scoring_draftdecaypolicy_change", args=[policy.pk])
    assert 'name="scorecard"' in page(admin, url)
    default_policy = DecayPolicy.all_versions.get(version=draft, scorecard=None)
    form = {
        "kind": "half_life",
        "points_per_day": "0",
        "after_days": "3",
        "half_life_days": "7",
        "window_days": "0",
        "floor": "0",
        "scorecard": "",
    }
    refused = admin.post(url, form)
    assert refused.status_code == 200
    assert "This scorecard has a decay policy in the draft already." in html.unescape(refused.content.decode())
    assert default_policy.pk != policy.pk
    draft_page = page(admin, reverse("admin:scoring_modelversion_change", args=[draft.pk]))
    assert "Toys: " in draft_page


def test_a_scorecard_s_live_group_deleted_from_the_list_is_deleted(admin: Client) -> None:
    services.scoring_model_import(spec=two_scorecards())
    hot = ScoreGroup.every_scorecard.get(key="toys-hot")
    url = reverse("admin:scoring_scoregroup_changelist")
    response = admin.post(url, {"action": "delete_selected", "_selected_action": [str(hot.pk)], "post": "yes"})
    assert response.status_code == 302
    assert not ScoreGroup.every_scorecard.filter(key="toys-hot").exists()


def test_every_scorecard_s_live_decay_policy_is_listed_and_changed_on_its_own_scorecard(admin: Client) -> None:
    services.scoring_model_import(spec=two_scorecards())
    url = reverse("admin:scoring_decaypolicy_changelist")
    listed = rows(page(admin, url))
    assert [(row[0], row[1]) for row in listed] == [
        ("Decay: linear", "Default scorecard"),
        ("Decay: none", "Books"),
        ("Decay: half life", "Toys"),
    ]
    assert [row[1] for row in rows(page(admin, url + "?scorecard=toys"))] == ["Toys"]

    toys = DecayPolicy.every_scorecard.get(scorecard__key="toys")
    change = reverse("admin:scoring_decaypolicy_change", args=[toys.pk])
    # The scorecard's page links to it.
    card_page = page(admin, reverse("admin:scoring_scorecard_change", args=[toys.scorecard_id]))
    assert f'<a href="{change}">half life</a>' in card_page
    text = page(admin, change)
    assert 'name="scorecard"' not in text  # a live policy stays with its scorecard
    assert "Toys" in text.split("field-scorecard")[1][:400]
    form = {"kind": "linear", "points_per_day": "2", "after_days": "5", "half_life_days": "0", "window_days": "0"}
    saved = admin.post(change, {**form, "floor": "1"})
    assert saved.status_code == 302
    toys.refresh_from_db()
    assert (toys.scorecard.key, toys.kind, toys.points_per_day, toys.floor) == ("toys", "linear", 2, 1)  # type: ignore[union-attr]
    # The default scorecard's policy is untouched.
    assert (DecayPolicy.objects.get().kind, DecayPolicy.objects.get().points_per_day) == ("linear", 1)
    refused = admin.post(change, {**form, "points_per_day": "0", "floor": "0"})
    assert refused.status_code == 200
    assert "a linear decay needs a positive number of points per day" in html.unescape(refused.content.decode())


def test_a_live_decay_policy_is_added_only_for_a_scorecard_without_one(admin: Client) -> None:
    services.scoring_model_import(spec=two_scorecards())
    add = reverse("admin:scoring_decaypolicy_add")
    assert admin.get(add).status_code == 403  # every scorecard has its policy
    games = Scorecard.objects.create(key="games", name="Games")
    form = {
        "kind": "window",
        "points_per_day": "0",
        "after_days": "0",
        "half_life_days": "0",
        "window_days": "30",
        "floor": "0",
    }
    toys = Scorecard.objects.get(key="toys")
    refused = admin.post(add, {**form, "scorecard": str(toys.pk)})
    assert refused.status_code == 200
    assert "This scorecard has a decay policy already: change that one." in html.unescape(refused.content.decode())
    refused = admin.post(add, {**form, "scorecard": ""})
    assert "This scorecard has a decay policy already: change that one." in html.unescape(refused.content.decode())
    saved = admin.post(add, {**form, "scorecard": str(games.pk)})
    assert saved.status_code == 302
    assert DecayPolicy.every_scorecard.get(scorecard=games).window_days == 30
    assert DecayPolicy.every_scorecard.count() == 4
