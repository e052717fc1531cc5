"""The overview at /reports/: who may read it, every number on it checked against a small
data set computed by hand, each CSV download equal to the table the page shows, and a
constant number of queries whatever the data's size."""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reports import snapshots
from reports.models import MqlTarget
from reports.snapshots import TREND_DAYS
from scoring.models import Lead, ScoreGroup
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.reports.dataset import lead, moved, overview_data, stages
from tests.routing.factories import (
    PASSWORD,
    QueueItemFactory,
    RepFactory,
    TeamFactory,
    UserFactory,
    adjust,
    marketer,
    rule,
)

pytestmark = pytest.mark.django_db

URL = "/reports/"
SECTIONS = ("groups", "trend", "funnel", "fit", "engagement", "queues", "transitions", "mqls")


class Tables(HTMLParser):
    """The cells of each ``<table data-section=…>``, row by row, as a person reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._section: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._empty = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        section = found.get("data-section")
        if tag == "table" and section:
            self._section = section
            self.tables[section] = []
        elif tag == "tr" and self._section:
            self._row, self._empty = [], found.get("class") == "empty"
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._section:
            if not self._empty:
                self.tables[self._section].append(self._row)
            self._row = None
        elif tag == "table":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


def reader() -> Client:
    client = Client()
    client.force_login(marketer(username="mia"))
    return client


@pytest.fixture
def data() -> dict[str, Any]:
    return overview_data()


def test_every_number_on_the_page(data: dict[str, Any]) -> None:
    MqlTarget.objects.create(month=data["today"].replace(day=1), target=3)
    response = reader().get(URL)
    assert response.status_code == 200
    shown = tables(response.content.decode())
    assert set(shown) == set(SECTIONS)

    assert shown["groups"] == [
        ["Score group", "From score", "Leads", "Share of all leads"],
        ["Nurture", "40", "2", "40.0%"],
        ["Hot", "80", "2", "40.0%"],
        ["No group", "", "1", "20.0%"],
    ]

    trend = shown["trend"]
    assert trend[0] == ["Day", "Nurture", "Hot", "No group"]
    today: date = data["today"]
    assert len(trend) == 1 + TREND_DAYS
    assert trend[1][0] == (today - timedelta(days=TREND_DAYS)).isoformat()
    assert trend[-2:] == [
        [(today - timedelta(days=2)).isoformat(), "1", "1", "1"],
        [(today - timedelta(days=1)).isoformat(), "2", "1", "2"],
    ]
    assert all(row[1:] == ["", "", ""] for row in trend[1:-2])  # days not counted are blank, not zero

    assert shown["funnel"] == [
        [
            "Stage",
            "Leads that reached it",
            "Moved on from the step before",
            "Median days from the step before",
            "Leads whose days are known",
        ],
        ["All leads", "5", "", "", ""],
        # Ada, Bob, Dee (who went straight to SQL) and Eve (an opportunity now, no history): 4 of 5.
        # Days to MQL: Ada 10, Bob 2, Dee 6: the median is 6.
        ["Marketing qualified (MQL)", "4", "80.0%", "6.0", "3"],
        # Bob, Dee, Eve; days from MQL: Bob 8, Dee 0: 4.
        ["Sales qualified (SQL)", "3", "75.0%", "4.0", "2"],
        ["Opportunity", "2", "66.7%", "5.0", "1"],
        ["Won (customer)", "1", "50.0%", "5.0", "1"],
    ]

    # Fit from -5 to 120: bins of 10 from -10. Engagement from 5 to 70: bins of 5 from 5.
    fit = {"-10 to -1": "1", "0 to 9": "1", "10 to 19": "1", "30 to 39": "1", "120 to 129": "1"}
    assert shown["fit"] == [
        ["Fit score", "Leads"],
        *[[f"{low} to {low + 9}", fit.get(f"{low} to {low + 9}", "0")] for low in range(-10, 130, 10)],
    ]
    engagement = {"5 to 9": "1", "35 to 39": "1", "50 to 54": "1", "55 to 59": "1", "70 to 74": "1"}
    assert shown["engagement"] == [
        ["Engagement score", "Leads"],
        *[[f"{low} to {low + 4}", engagement.get(f"{low} to {low + 4}", "0")] for low in range(5, 75, 5)],
    ]

    assert shown["queues"] == [
        ["Team", "Waiting", "Waiting past the SLA", "SLA (hours)", "Longest wait (hours)"],
        ["North", "2", "1", "4", "6.0"],
        ["South", "1", "", "no SLA", "30.0"],
        ["West", "0", "0", "24", ""],
    ]

    assert shown["transitions"] == [
        ["When", "Lead", "From", "To", "Direction", "Score after"],
        *[
            [
                timezone.localtime(t.occurred_at).strftime("%Y-%m-%d %H:%M"),
                t.lead.name,
                t.from_group.name if t.from_group else "No group",
                t.to_group.name,
                t.direction,
                str(t.total_score),
            ]
            for t in data["transitions"]
        ],
    ]
    assert [row[1] for row in shown["transitions"][1:]] == ["Dee Dropped", "Bob Babbage", "Ada Lovelace"]

    # MQLs: Ada (lead -> MQL 20 days ago), Bob (38 days ago; his SQL later is no new MQL) and
    # Dee (straight to SQL 44 days ago), each in its month in the site's time zone; the
    # current month's target of 3 is set in the admin, the others are not.
    this_month = today.replace(day=1)
    months = [this_month]
    while len(months) < 7:
        months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
    now = timezone.now()
    reached = Counter(timezone.localdate(now - timedelta(days=d)).replace(day=1) for d in (20, 38, 44))
    assert sum(reached[m] for m in months) == 3
    delivered_now = reached[this_month]
    assert shown["mqls"] == [
        ["Month", "Target", "MQLs delivered", "Delivered of target", "Difference"],
        *[[f"{m:%Y-%m}", "", str(reached[m]), "", ""] for m in months[:-1]],
        [
            f"{this_month:%Y-%m} (to date)",
            "3",
            str(delivered_now),
            f"{100 * delivered_now / 3:.1f}%",
            f"{delivered_now - 3:+d}" if delivered_now != 3 else "0",
        ],
    ]

    charts = response.context["charts"]
    assert charts["mqls"]["delivered"] == [reached[m] for m in months]
    assert charts["mqls"]["target"] == [None] * 6 + [3]
    assert charts["groups"] == {"labels": ["Nurture", "Hot", "No group"], "values": [2, 2, 1]}
    assert charts["funnel"]["values"] == [5, 4, 3, 2, 1]
    assert charts["queues"] == {"labels": ["North", "South", "West"], "within": [1, 1, 0], "late": [1, 0, 0]}
    assert charts["trend"]["series"][0]["values"][-2:] == [1, 2]
    assert charts["trend"]["series"][0]["values"][0] is None  # a gap, not a fall to zero
    assert sum(charts["fit"]["values"]) == sum(charts["engagement"]["values"]) == 5


def test_each_csv_is_the_table_the_page_shows(data: dict[str, Any]) -> None:
    client = reader()
    shown = tables(client.get(URL).content.decode())
    for key in SECTIONS:
        response = client.get(URL, {"format": "csv", "section": key})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert f'filename="leadflow-overview-{key}-' in response["Content-Disposition"]
        assert list(csv.reader(io.StringIO(response.content.decode()))) == shown[key], key


def test_a_formula_in_a_name_is_not_run_by_a_spreadsheet(data: dict[str, Any]) -> None:
    Lead.objects.filter(pk=data["leads"][3].pk).update(first_name="=HYPERLINK(1)", last_name="")
    client = reader()
    response = client.get(URL, {"format": "csv", "section": "transitions"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][1] == "'=HYPERLINK(1)"
    fit = list(csv.reader(io.StringIO(client.get(URL, {"format": "csv", "section": "fit"}).content.decode())))
    assert fit[1][0] == "-10 to -1"  # a score range is not a formula


def test_a_formula_in_a_column_name_is_not_run_by_a_spreadsheet(data: dict[str, Any]) -> None:
    # A score group's name heads a column of the trend: a model file imported from elsewhere names it.
    ScoreGroup.objects.filter(pk=Lead.objects.exclude(score_group=None).values("score_group")[:1]).update(
        name='=HYPERLINK("http://evil.example")'
    )
    response = reader().get(URL, {"format": "csv", "section": "trend"})
    [headers, *_] = list(csv.reader(io.StringIO(response.content.decode())))
    assert '\'=HYPERLINK("http://evil.example")' in headers
    assert not any(header.startswith("=") for header in headers)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"format": "pdf"}, "format: 'pdf' is not a format here (html or csv)."),
        ({"format": "csv"}, "section: '' is not a section of the overview"),
        ({"format": "csv", "section": "everything"}, "section: 'everything' is not a section of the overview"),
    ],
)
def test_a_bad_download_request_names_the_field(query: dict[str, str], message: str) -> None:
    response = reader().get(URL, query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_page_reads_the_same_number_of_queries_whatever_the_data(data: dict[str, Any]) -> None:
    client = reader()
    client.get(URL)  # sessions and permissions cached alike for both

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured.captured_queries)

    small = queries()
    now = timezone.now()
    extra = ScoreGroupFactory.create(key="vip", name="VIP", min_score=150)
    east = TeamFactory.create(name="East", sla_hours=2)
    for i in range(30):
        more = lead(f"More Lead{i}", "sql", i, 3 * i, extra, now - timedelta(days=i + 1))
        stages(more, ("lead", "mql", now - timedelta(days=i)), ("mql", "sql", now))
        moved(more, None, extra, 150, now - timedelta(minutes=i))
        QueueItemFactory.create(lead=more, team=east, entered_at=now - timedelta(hours=i))
        MqlTarget.objects.get_or_create(
            month=timezone.localdate(now - timedelta(days=31 * (i % 7))).replace(day=1), defaults={"target": i}
        )
    assert queries() == small
    assert small <= 20


def test_only_marketing_and_sales_managers_read_it() -> None:
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"{reverse('login')}?next={URL}"

    rep = Client()
    rep.force_login(RepFactory.create().user)
    assert rep.get(URL).status_code == 403
    assert rep.get(URL, {"format": "csv", "section": "groups"}).status_code == 403

    manager = UserFactory.create()
    manager.groups.add(Group.objects.get(name="Sales managers"))
    client = Client()
    client.force_login(manager)
    assert client.get(URL).status_code == 200
    assert reader().get(URL).status_code == 200
    assert reverse("reports:overview") == URL


def test_the_overview_is_a_marketers_first_page_and_reps_still_go_to_their_queue() -> None:
    marketing = reader()
    assert marketing.get("/")["Location"] == URL
    RepFactory.create(user__username="rita")
    assert Client().post(reverse("login"), {"username": "rita", "password": PASSWORD}, follow=True).redirect_chain[-1][
        0
    ] == reverse("sales:queue")
    marketer(username="max")
    landed = Client().post(reverse("login"), {"username": "max", "password": PASSWORD}, follow=True)
    assert landed.redirect_chain[-1][0] == URL
    assert "Overview" in landed.content.decode()
    staff = UserFactory.create(is_staff=True)  # neither reports nor a queue
    client = Client()
    client.force_login(staff)
    assert client.get("/")["Location"] == reverse("admin:index")


def test_the_admin_home_links_to_the_overview_for_those_who_read_it() -> None:
    page = reader().get(reverse("admin:index")).content.decode()
    assert f'href="{URL}"' in page
    assert "Overview" in page
    other = Client()
    other.force_login(UserFactory.create(is_staff=True))
    assert f'href="{URL}"' not in other.get(reverse("admin:index")).content.decode()


def test_a_watched_score_crossed_outside_every_group_is_no_move_between_groups() -> None:
    # "Falls below 0" watches 0: a lead going from 0 to -15 crosses it in no group at all,
    # which routing hears of, but it entered and left no group.
    rule("score_falls_below", {"kind": "add_tag", "tag": "cold"}, threshold=0)
    warm = ScoreGroupFactory.create(key="warm", name="Warm", min_score=10)
    adjust(LeadFactory.create(first_name="Ada", last_name="Down"), -15)
    adjust(LeadFactory.create(first_name="Bob", last_name="Up"), 12)
    assert Lead.objects.get(first_name="Bob").score_group == warm
    shown = tables(reader().get(URL).content.decode())
    assert [row[1:4] for row in shown["transitions"][1:]] == [["Bob Up", "No group", "Warm"]]


def test_an_empty_installation_shows_the_page_with_nothing_yet() -> None:
    response = reader().get(URL)
    assert response.status_code == 200
    shown = tables(response.content.decode())
    assert shown["groups"][1:] == [["No group", "", "0", ""]]
    assert shown["funnel"][1] == ["All leads", "0", "", "", ""]
    assert shown["fit"] == [["Fit score", "Leads"]]
    assert shown["queues"] == [["Team", "Waiting", "Waiting past the SLA", "SLA (hours)", "Longest wait (hours)"]]
    assert [row[1:] for row in shown["mqls"][1:]] == [["", "0", "", ""]] * 7
    assert "Nothing yet." in response.content.decode()


def test_the_reports_permission_is_needed_not_staff() -> None:
    user = UserFactory.create(is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="reports", codename="view_reports"))
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 200


def test_before_the_first_nightly_count_the_trend_says_when_it_will_appear() -> None:
    ScoreGroupFactory.create(name="Warm", min_score=10)
    LeadFactory.create()
    client = reader()
    page = client.get(URL).content.decode()
    assert tables(page)["trend"] == [["Day", "Warm", "No group"]]  # no 90 rows of blanks
    explanation = html.unescape(page.split('id="section-trend"', 1)[1].split("</p>", 1)[0])
    assert "Not counted yet: the leads in each score group are counted every night" in explanation
    assert f"the first night's count fills the last {TREND_DAYS} days" in explanation
    spanish = Client(headers={"accept-language": "es-CR,es;q=0.9"})
    spanish.force_login(User.objects.get(username="mia"))
    assert "Aún sin contar: los leads de cada grupo" in spanish.get(URL).content.decode()

    snapshots.group_counts_nightly()
    page = client.get(URL).content.decode()
    assert len(tables(page)["trend"]) == 1 + TREND_DAYS
    assert "Not counted yet" not in page


def test_an_installation_with_no_lead_says_how_to_bring_leads_in(admin_client: Client) -> None:
    marketing = reader()
    page = marketing.get(URL).content.decode()
    assert 'id="first-steps"' in page
    # Marketing imports leads; only an administrator makes API keys: no link to a page it may not open.
    assert f'href="{reverse("admin:intake_leadimport_add")}"' in page
    assert reverse("admin:intake_apikey_add") not in page
    assert "which an administrator creates in the admin, under API keys" in page
    assert f'href="{reverse("api:docs")}"' in page
    everything = admin_client.get(URL).content.decode()
    assert f'href="{reverse("admin:intake_apikey_add")}"' in everything
    spanish = marketing.get(URL, headers={"accept-language": "es"}).content.decode()
    assert "Aún no hay leads: primeros pasos" in spanish
    assert "Importa leads de un archivo CSV" in spanish

    LeadFactory.create()
    assert 'id="first-steps"' not in marketing.get(URL).content.decode()
