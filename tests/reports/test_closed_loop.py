"""The closed-loop reports' figures on a history small enough to count by hand
(tests/reports/closed_loop_data.py), each filter, the CSV against the page, who may
read them, and a fixed number of queries whatever the history's size."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import date
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reports import queries
from reports.filters import ALL_FILTERS, NO_GROUP, Choices, Filters, filters_parse
from reports.tables import BY_SLUG, REPORTS
from scoring.models import Lead, ScoreGroup
from tests.reports.closed_loop_data import (
    History,
    at,
    came_from,
    closed_loop_history,
    more_history,
    reader,
    rebuilt,
)
from tests.routing.factories import RepFactory, UserFactory

pytestmark = pytest.mark.django_db

DASH = "\u2014"


@pytest.fixture
def history() -> History:
    return closed_loop_history()


def shown(slug: str, **params: str) -> list[list[str]]:
    """The report's rows as the page and the CSV write them."""
    report = BY_SLUG[slug]
    filters, errors = filters_parse(params, applies=report.filters, choices=Choices.load())
    assert errors == {}
    return report.show(filters).table.rows


def filters(**params: str) -> Filters:
    parsed, errors = filters_parse(params, applies=ALL_FILTERS, choices=Choices.load())
    assert errors == {}
    return parsed


# --- Conversion by score group -------------------------------------------------------


def test_conversion_by_group_counts_each_lead_once_in_its_group_at_the_first_handoff(history: History) -> None:
    # L1 (45) and L4 (40) were hot when handed over, L1 won; L3 (30) warm and won; L2
    # was 15 then (its +30 came a week later) and L5 0: no group, neither won. L1's
    # second hand-off (Nov 20) does not count it again.
    assert shown("conversion-by-group") == [
        ["Hot", "40 or more", "2", "1", "50.0%"],
        ["Warm", "20\u201339", "1", "1", "100.0%"],
        ["No group", "below 20", "2", "0", "0.0%"],
    ]


def test_conversion_by_group_filters(history: History) -> None:
    # From Nov 10: first hand-offs of L4 (Dec 1) and L5 (Nov 21); L1's of Nov 20 is its second.
    assert shown("conversion-by-group", start="2026-11-10") == [
        ["Hot", "40 or more", "1", "0", "0.0%"],
        ["Warm", "20\u201339", "0", "0", DASH],
        ["No group", "below 20", "1", "0", "0.0%"],
    ]
    assert shown("conversion-by-group", end="2026-11-03") == [
        ["Hot", "40 or more", "1", "1", "100.0%"],
        ["Warm", "20\u201339", "0", "0", DASH],
        ["No group", "below 20", "1", "0", "0.0%"],
    ]
    assert shown("conversion-by-group", team="south") == [
        ["Hot", "40 or more", "0", "0", DASH],
        ["Warm", "20\u201339", "1", "1", "100.0%"],
        ["No group", "below 20", "1", "0", "0.0%"],
    ]
    # "form" is every form; a source is the lead's first interaction's (L1's later api:abc is not).
    assert [row[2] for row in shown("conversion-by-group", source="form")] == ["1", "1", "0"]
    assert [row[2] for row in shown("conversion-by-group", source="form:contact")] == ["1", "0", "0"]
    assert [row[2] for row in shown("conversion-by-group", source="api")] == ["0", "0", "1"]
    # A kind is a whole word before the colon, and the words are taken literally.
    for other in ("for", "form%", "form_contact", "contact"):
        assert [row[2] for row in shown("conversion-by-group", source=other)] == ["0", "0", "0"], other


# --- Fit by engagement grid ----------------------------------------------------------


def grid_cells(**params: str) -> dict[str, tuple[str, str, str]]:
    return {row[0] + row[2]: (row[4], row[5], row[6]) for row in shown("fit-engagement", **params)}


def test_grid_places_each_lead_by_fit_and_engagement_at_its_first_handoff(history: History) -> None:
    cells = grid_cells()
    assert list(cells)[:5] == ["A1", "A2", "A3", "A4", "B1"]  # best first, 16 cells
    assert len(cells) == 16
    assert cells["A2"] == ("2", "1", "50.0%")  # L1 (15, 30) won; L4 (15, 25)
    assert cells["A4"] == ("1", "0", "0.0%")  # L2 (15, 0 at hand-off)
    assert cells["D2"] == ("1", "1", "100.0%")  # L3 (0, 30)
    assert cells["D4"] == ("1", "0", "0.0%")  # L5
    empty = set(cells) - {"A2", "A4", "D2", "D4"}
    assert {cells[name] for name in empty} == {("0", "0", DASH)}


def test_grid_filters_by_score_group_at_handoff(history: History) -> None:
    hot = grid_cells(group="hot")
    assert {name: cell for name, cell in hot.items() if cell[0] != "0"} == {"A2": ("2", "1", "50.0%")}
    none = grid_cells(group="none")
    assert {name: cell for name, cell in none.items() if cell[0] != "0"} == {
        "A4": ("1", "0", "0.0%"),
        "D4": ("1", "0", "0.0%"),
    }
    south = grid_cells(team="south")
    assert {name: cell for name, cell in south.items() if cell[0] != "0"} == {
        "D2": ("1", "1", "100.0%"),
        "D4": ("1", "0", "0.0%"),
    }


def test_grid_page_colours_the_best_cell_hottest(history: History, client: Client) -> None:
    client.force_login(reader())
    page = client.get(reverse("reports:fit-engagement")).content.decode()
    assert re.search(r'class="heat-5" data-cell="D2"><strong>100.0%</strong><br><span>1 of 1</span>', page)
    assert re.search(r'class="heat-3" data-cell="A2"><strong>50.0%</strong>', page)
    assert re.search(r'class="heat-1" data-cell="A4"><strong>0.0%</strong>', page)  # leads, none won
    assert f'class="heat-0" data-cell="A1"><strong>{DASH}</strong>' in page  # no leads


# --- Rule lift -------------------------------------------------------------------------


def test_rule_lift_compares_leads_each_rule_scored_with_the_others(history: History) -> None:
    # Five leads, L1 and L3 won. Right industry scored L1, L2, L4 (1 of 3 won) against
    # L3, L5 (1 of 2); Careers page scored L4 only (L1's award was taken back whole);
    # Demo request scored all but L5, who did not win: no rate to compare with.
    assert [[row[0], *row[4:]] for row in shown("rule-lift")] == [
        ["Right industry", "3", "1", "33.3%", "2", "1", "50.0%", "\u00d70.67"],
        ["Careers page", "1", "0", "0.0%", "4", "2", "50.0%", "\u00d70.00"],
        ["Demo request", "4", "2", "50.0%", "1", "0", "0.0%", DASH],
    ]
    row = next(r for r in queries.rule_lift(filters()) if r.rule.name == "Right industry")
    assert row.lift == pytest.approx((1 / 3) / (1 / 2))


def test_rule_lift_filters(history: History) -> None:
    # From Nov 1: L5 (created Oct 15) is left out.
    assert [[row[0], *row[4:]] for row in shown("rule-lift", start="2026-11-01")] == [
        ["Right industry", "3", "1", "33.3%", "1", "1", "100.0%", "\u00d70.33"],
        ["Careers page", "1", "0", "0.0%", "3", "2", "66.7%", "\u00d70.00"],
        ["Demo request", "4", "2", "50.0%", "0", "0", DASH, DASH],
    ]
    # Forms: L1 and L3, both won.
    by_rule = {row[0]: row[4:] for row in shown("rule-lift", source="form")}
    assert by_rule["Right industry"] == ["1", "1", "100.0%", "1", "1", "100.0%", "\u00d71.00"]
    assert shown("rule-lift", end="2026-10-01") == [
        [name, dim, pts, "yes", "0", "0", DASH, "0", "0", DASH, DASH]
        for name, dim, pts in (
            ("Careers page", "Engagement", "-5"),
            ("Demo request", "Engagement", "+30"),
            ("Right industry", "Fit", "+15"),
        )
    ]


# --- Speed to lead -------------------------------------------------------------------


def test_speed_to_lead_medians_by_team_and_rep(history: History) -> None:
    header = BY_SLUG["speed-to-lead"].show(filters()).table.headers
    assert header[4] == "Median routed → claimed (h)"
    # North: claimed after 1 h (alice), 6 h (bob, past the 4 h SLA), 0.2 h (alice);
    # L1's second hand-off still waits (past the SLA). Alice accepted L1 1 h after
    # claiming it, 2 h after it was routed. South: escalated, claimed after 3 h (SLA
    # 2 h), accepted 30 min later; L5 rejected unclaimed within the hour.
    assert shown("speed-to-lead") == [
        ["North", "All reps", "4", "3", "1.0", "1", "1.0", "2.0", "2", "0"],
        ["North", "alice", "2", "2", "0.6", "1", "1.0", "2.0", "0", "0"],
        ["North", "bob", "1", "1", "6.0", "0", DASH, DASH, "1", "0"],
        ["South", "All reps", "2", "1", "3.0", "1", "0.5", "3.5", "1", "1"],
        ["South", "carol", "2", "1", "3.0", "1", "0.5", "3.5", "1", "1"],
    ]


def test_speed_to_lead_filters(history: History) -> None:
    assert [row[:4] for row in shown("speed-to-lead", team="south")] == [
        ["South", "All reps", "2", "1"],
        ["South", "carol", "2", "1"],
    ]
    assert [row[:4] for row in shown("speed-to-lead", start="2026-12-01")] == [
        ["North", "All reps", "1", "1"],
        ["North", "alice", "1", "1"],
    ]
    assert [row[:4] for row in shown("speed-to-lead", source="api")] == [
        ["North", "All reps", "1", "1"],
        ["North", "bob", "1", "1"],
    ]


def test_a_waiting_handoff_breaches_its_sla_only_once_the_sla_is_over(history: History) -> None:
    north = [r for r in queries.speed_to_lead(filters(team="north"), now=at(11, 20, 12)) if not r.rep]
    assert north[0].breaches == 1  # I5 waited 3 h of its 4: only bob's
    north = [r for r in queries.speed_to_lead(filters(team="north"), now=at(11, 20, 14)) if not r.rep]
    assert north[0].breaches == 2


# --- Rejection and disqualification reasons ------------------------------------------


def test_reasons_by_outcome_most_frequent_first(history: History) -> None:
    assert shown("rejection-reasons") == [
        ["Rejected", "No budget", "1", "50.0%"],
        ["Rejected", "Not ready", "1", "50.0%"],
        ["Disqualified", "Student", "1", "100.0%"],
    ]


def test_reasons_filters(history: History) -> None:
    assert shown("rejection-reasons", team="south") == [["Rejected", "Not ready", "1", "100.0%"]]
    assert shown("rejection-reasons", start="2026-12-01") == [["Disqualified", "Student", "1", "100.0%"]]
    assert shown("rejection-reasons", source="tracking") == [["Disqualified", "Student", "1", "100.0%"]]
    assert shown("rejection-reasons", source="form") == []


# --- Nurture -------------------------------------------------------------------------


def test_nurture_sequences_and_steps(history: History) -> None:
    assert shown("nurture") == [
        ["Long-term", "All steps", "", "2", "1", "50.0%", "0", "0.0%", "0", "0", "0"],
        ["Long-term", "1", "Still there?", "2", "1", "50.0%", "0", "0.0%", "0", "0", "0"],
        ["Welcome", "All steps", "", "4", "3", "75.0%", "2", "50.0%", "1", "1", "2"],
        ["Welcome", "1", "Hello", "3", "2", "66.7%", "2", "66.7%", "1", "0", "2"],
        ["Welcome", "2", "Offer", "1", "1", "100.0%", "0", "0.0%", "0", "1", "1"],
    ]


def test_nurture_filters(history: History) -> None:
    assert [row[:4] for row in shown("nurture", sequence="welcome")] == [
        ["Welcome", "All steps", "", "4"],
        ["Welcome", "1", "Hello", "3"],
        ["Welcome", "2", "Offer", "1"],
    ]
    # December: only L1's long-term step (sent after L1 was won: not converted afterwards).
    assert shown("nurture", start="2026-12-01")[:2] == [
        ["Long-term", "All steps", "", "1", "0", "0.0%", "0", "0.0%", "0", "0", "0"],
        ["Long-term", "1", "Still there?", "1", "0", "0.0%", "0", "0.0%", "0", "0", "0"],
    ]
    assert shown("nurture", start="2026-12-01")[3] == [
        "Welcome",
        "1",
        "Hello",
        "0",
        "0",
        DASH,
        "0",
        DASH,
        "0",
        "0",
        "0",
    ]
    assert [row[3] for row in shown("nurture", source="form", sequence="welcome")] == ["3", "2", "1"]
    # The source filter applies to the converted leads too: the two welcome leads won after
    # their steps came in by a form; the long-term lead's win came before its step.
    assert shown("nurture", source="form") == [
        ["Long-term", "All steps", "", "1", "0", "0.0%", "0", "0.0%", "0", "0", "0"],
        ["Long-term", "1", "Still there?", "1", "0", "0.0%", "0", "0.0%", "0", "0", "0"],
        ["Welcome", "All steps", "", "3", "3", "100.0%", "2", "66.7%", "1", "0", "2"],
        ["Welcome", "1", "Hello", "2", "2", "100.0%", "2", "100.0%", "1", "0", "2"],
        ["Welcome", "2", "Offer", "1", "1", "100.0%", "0", "0.0%", "0", "0", "1"],
    ]
    assert [row[10] for row in shown("nurture", source="tracking")] == ["0"] * 5
    assert [row[10] for row in shown("nurture", source="api")] == ["0"] * 5


def test_nurture_source_filter_reads_the_kept_origins_and_a_changed_lead_live(history: History) -> None:
    sources = ("form", "tracking", "api")
    live = {source: shown("nurture", source=source) for source in sources}
    rebuilt()
    assert {source: shown("nurture", source=source) for source in sources} == live
    # An interaction arriving late, before any of L3's, makes L3 (welcomed, then won) a
    # tracking lead: read live until the next rebuild, with its deliveries and its win.
    came_from(Lead.objects.get(first_name="L3"), "tracking", at(10, 1))
    moved = {source: shown("nurture", source=source) for source in sources}
    assert moved != live
    assert [row[10] for row in moved["form"] if row[1] == "All steps"] == ["0", "1"]
    assert [row[10] for row in moved["tracking"] if row[1] == "All steps"] == ["0", "1"]
    rebuilt()
    assert {source: shown("nurture", source=source) for source in sources} == moved


# --- Feedback loop -------------------------------------------------------------------


def test_feedback_loop_by_month(history: History) -> None:
    # November: I1 (won), I2 (rejected), I3 (accepted, qualified, won), I5 (waiting),
    # I6 (rejected). December: I4 (disqualified).
    assert shown("feedback-loop") == [
        ["2026-11", "5", "2", "40.0%", "2", "40.0%", "2", "40.0%", "2"],
        ["2026-12", "1", "0", "0.0%", "0", "0.0%", "0", "0.0%", "1"],
    ]


def test_feedback_loop_filters(history: History) -> None:
    # Hot at the hand-off: I1 and I5 (L1, 45) in November, I4 (L4, 40) in December.
    assert shown("feedback-loop", group="hot") == [
        ["2026-11", "2", "1", "50.0%", "1", "50.0%", "1", "50.0%", "0"],
        ["2026-12", "1", "0", "0.0%", "0", "0.0%", "0", "0.0%", "1"],
    ]
    assert shown("feedback-loop", team="north", end="2026-11-30") == [
        ["2026-11", "3", "1", "33.3%", "1", "33.3%", "1", "33.3%", "1"]
    ]
    assert shown("feedback-loop", source="form:webinar") == [
        ["2026-11", "1", "1", "100.0%", "1", "100.0%", "1", "100.0%", "0"]
    ]


def test_the_score_groups_share_out_every_handoff_of_the_feedback_loop(history: History) -> None:
    """Each hand-off counts under exactly one group filter (or "none"): the groups' bounds
    leave no total out and count none twice."""
    every = Counter({row[0]: int(row[1]) for row in shown("feedback-loop")})
    keys = [*ScoreGroup.objects.values_list("key", flat=True), NO_GROUP]
    shared: Counter[str] = Counter()
    per_group = {}
    for key in keys:
        per_group[key] = sum(int(row[1]) for row in shown("feedback-loop", group=key))
        for row in shown("feedback-loop", group=key):
            shared[row[0]] += int(row[1])
    assert shared == every
    assert sum(1 for n in per_group.values() if n) >= 2, per_group  # the history spans several groups


# --- Filters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"start": "2026-13-01"}, "start", "is not a date"),
        ({"end": "yesterday"}, "end", "is not a date"),
        ({"start": "2026-12-01", "end": "2026-11-01"}, "end", "before the start"),
        ({"team": "west"}, "team", "No team 'west' (known: north, south)"),
        ({"group": "lukewarm"}, "group", "No score group 'lukewarm' (known: warm, hot, none)"),
        ({"source": "x" * 101}, "source", "At most 100 characters"),
    ],
)
def test_bad_filters_are_named_on_the_page_and_refused_by_the_csv(
    history: History, client: Client, params: dict[str, str], field: str, words: str
) -> None:
    client.force_login(reader())
    page = client.get(reverse("reports:feedback-loop"), params)
    assert page.status_code == 400
    text = unescape(page.content.decode())
    assert f"<strong>{field}</strong>: " in text
    assert words in text
    assert 'id="report-table"' not in text
    exported = client.get(reverse("reports:feedback-loop-csv"), params)
    assert exported.status_code == 400
    assert exported.content.decode().startswith(f"{field}: ")


def test_a_sequence_that_does_not_exist_is_named(history: History, client: Client) -> None:
    client.force_login(reader())
    page = client.get(reverse("reports:nurture"), {"sequence": "<b>nope</b>"})
    assert page.status_code == 400
    assert "<b>nope</b>" not in page.content.decode()  # escaped
    assert "No sequence '<b>nope</b>' (known: long-term, welcome)" in unescape(page.content.decode())


def test_filters_a_report_does_not_take_are_ignored(history: History, client: Client) -> None:
    client.force_login(reader())
    # Rule lift has no team filter: a bad team changes nothing there.
    page = client.get(reverse("reports:rule-lift"), {"team": "west"})
    assert page.status_code == 200
    assert 'name="team"' not in page.content.decode()


# --- CSV = page ----------------------------------------------------------------------


def page_rows(html: str) -> list[list[str]]:
    table = html.split('id="report-table"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [
        [unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


@pytest.mark.parametrize("slug", [report.slug for report in REPORTS])
def test_csv_is_what_the_page_shows(history: History, client: Client, slug: str) -> None:
    client.force_login(reader())
    params = {"start": "2026-10-01", "end": "2026-12-31"}
    page = client.get(reverse(f"reports:{slug}"), params)
    assert page.status_code == 200
    html = page.content.decode()
    exported = client.get(reverse(f"reports:{slug}-csv"), params)
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="{slug}-' in exported["Content-Disposition"]
    header, *rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert (
        header
        == [unescape(h) for h in re.findall(r"<th>(.*?)</th>", html.split('id="report-table"')[1])][: len(header)]
    )
    # The same table, but the page groups thousands for its reader ("3,000.00") where the
    # CSV writes figures for programs ("3000.00").
    assert rows == [[re.sub(r"(?<=\d),(?=\d{3})", "", cell) for cell in row] for row in page_rows(html)]
    assert rows  # the history has something for every report
    # The page's CSV link carries the same filters.
    assert f'href="{reverse(f"reports:{slug}-csv")}?start=2026-10-01&amp;end=2026-12-31"' in html


# --- Who may read --------------------------------------------------------------------


def all_urls() -> list[str]:
    return [reverse("reports:all")] + [reverse(f"reports:{r.slug}{suffix}") for r in REPORTS for suffix in ("", "-csv")]


def test_anonymous_users_are_sent_to_log_in(client: Client) -> None:
    for url in all_urls():
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_reps_are_refused(client: Client) -> None:
    client.force_login(RepFactory.create().user)
    for url in all_urls():
        assert client.get(url).status_code == 403


def test_marketers_and_sales_managers_read_every_report(client: Client) -> None:
    manager = UserFactory.create()
    manager.groups.add(Group.objects.get(name="Sales managers"))
    for user in (reader(), manager):
        client.force_login(user)
        for url in all_urls():
            assert client.get(url).status_code == 200, url


def test_the_index_lists_every_report_and_the_nav_links_it(client: Client) -> None:
    client.force_login(reader())
    html = client.get(reverse("reports:all")).content.decode()
    for report in REPORTS:
        assert f'<a href="{reverse(f"reports:{report.slug}")}">{report.title}</a>' in html
    assert re.search(rf'<a href="{reverse("reports:all")}"[^>]*>Reports</a>', html), "the nav links the list"


def test_reports_are_read_only(history: History, client: Client) -> None:
    client.force_login(reader())
    assert client.post(reverse("reports:nurture")).status_code == 405


# --- Queries do not grow with the data -------------------------------------------------


def test_every_report_runs_as_many_queries_for_more_leads(history: History, client: Client) -> None:
    client.force_login(reader())
    params = {"source": "form"}

    def queries_of(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url, params).status_code == 200
        return len(captured)

    def counts() -> dict[str, tuple[int, int]]:
        """Each report's queries, page and CSV (one history for all: it is what costs)."""
        return {
            report.slug: (
                queries_of(reverse(f"reports:{report.slug}")),
                queries_of(reverse(f"reports:{report.slug}-csv")),
            )
            for report in REPORTS
        }

    small = counts()
    more_history(history, 12)
    assert counts() == small


def test_more_history_shows_in_the_figures(history: History) -> None:
    """The larger history of the query-count test is really read (its counts change)."""
    before = shown("conversion-by-group")[0]
    more_history(history, 6)
    after = shown("conversion-by-group")[0]
    assert (int(after[2]) - int(before[2]), int(after[3]) - int(before[3])) == (6, 2)


def test_dates_are_inclusive_days(history: History) -> None:
    parsed = filters(start="2026-11-02", end="2026-11-02")
    assert parsed.since() == at(11, 2, 0)
    assert parsed.before() == at(11, 3, 0)
    assert parsed.start == date(2026, 11, 2)
    # I1 entered on Nov 2 at 09:00: in a range of that one day.
    assert shown("feedback-loop", start="2026-11-02", end="2026-11-02")[0][1] == "1"


def test_a_reason_typed_like_a_formula_is_not_run_by_a_spreadsheet(history: History, client: Client) -> None:
    from routing.models import Outcome, QueueItem

    item = QueueItem.objects.order_by("pk").first()
    assert item is not None
    Outcome.objects.create(
        item=item,
        lead=item.lead,
        kind="rejected",
        reason='=HYPERLINK("http://evil.example")',
        total_score=0,
        at=at(11, 5),
    )
    client.force_login(reader())
    params = {"start": "2026-10-01", "end": "2026-12-31"}
    html = client.get(reverse("reports:rejection-reasons"), params).content.decode()
    assert unescape("=HYPERLINK(&quot;http://evil.example&quot;)") in unescape(html), "the page shows what was typed"
    exported = client.get(reverse("reports:rejection-reasons-csv"), params).content.decode()
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert '\'=HYPERLINK("http://evil.example")' in cells
    assert not any(cell.startswith("=") for cell in cells)
