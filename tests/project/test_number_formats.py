"""Figures and dates a person reads are written in their language ("1,234.5" and "12.5%"
in English, "1.234,5" and "12,5 %" in Spanish, dates "2026-12-03" and "03/12/2026"),
while a CSV writes them the same in both, for programs: a dot before the decimals, no
thousands separator, ISO dates."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from reports import figures
from routing.models import QueueItem
from scoring import figure, localized
from scoring.models import Lead
from tests.factories import LeadFactory
from tests.reports.closed_loop_data import closed_loop_history, reader
from tests.reports.dataset import overview_data
from tests.reports.test_overview import tables
from tests.routing.factories import QueueItemFactory, RepFactory, group, marketer

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("value", "english", "spanish"),
    [
        (figure.count(1234567), "1,234,567", "1.234.567"),
        (figure.count(12), "12", "12"),
        (figure.signed(1500), "+1,500", "+1.500"),
        (figure.signed(-3), "-3", "-3"),
        (figure.percentage(12.5), "12.5%", f"12,5{NBSP}%"),
        (figures.percent(2, 3), "66.7%", f"66,7{NBSP}%"),
        (figures.times(2 / 3), "\u00d70.67", "\u00d70,67"),
        (figures.money(Decimal("3000")), "3,000.00", "3.000,00"),
        (figure.day(date(2026, 12, 3)), "2026-12-03", "03/12/2026"),
        (1234, "1,234", "1.234"),
        ("Toys, Retail 1234", "Toys, Retail 1234", "Toys, Retail 1234"),
    ],
)
def test_a_figure_is_written_in_the_reader_s_language_and_stays_plain_for_programs(
    value: object, english: str, spanish: str
) -> None:
    with translation.override("en"):
        assert localized.figure(value) == english
    with translation.override("es"):
        assert localized.figure(value) == spanish
    if isinstance(value, figure.Figure):
        # The CSV's text: the same whatever the language.
        assert "," not in value
        assert NBSP not in value


def test_a_time_is_written_to_the_minute_in_the_site_s_time_zone() -> None:
    moment = timezone.make_aware(datetime(2026, 12, 3, 14, 5))
    with translation.override("en"):
        assert localized.when(moment) == "2026-12-03 14:05"
    with translation.override("es"):
        assert localized.when(moment) == "03/12/2026 14:05"
    assert figure.moment(moment) == "2026-12-03 14:05"


def _client(language: str, user: User) -> Client:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_report_table_in_either_language_and_its_csv_the_same_in_both() -> None:
    closed_loop_history()
    params = {"start": "2026-10-01", "end": "2026-12-31"}
    pages = {}
    exports = {}
    for language in ("en", "es"):
        client = _client(language, reader())
        pages[language] = client.get(reverse("reports:conversion-by-group"), params).content.decode()
        exported = client.get(reverse("reports:conversion-by-group-csv"), params).content.decode()
        exports[language] = list(csv.reader(io.StringIO(exported)))[1:]
    # The figures of the CSV are the same in both languages: plain for programs.
    assert [row[2:] for row in exports["en"]] == [row[2:] for row in exports["es"]]
    rates = [row[-1] for row in exports["en"] if row[-1].endswith("%")]
    assert rates
    assert all(re.fullmatch(r"\d+\.\d%", rate) for rate in rates)
    for rate in rates:
        assert f">{rate}<" in pages["en"]
        assert f">{rate.replace('.', ',').replace('%', NBSP + '%')}<" in pages["es"]


@pytest.mark.django_db
def test_the_overview_in_either_language_and_its_csv_the_same_in_both() -> None:
    overview_data()
    group("Marketing").permissions.add(
        Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    )
    url = reverse("reports:overview")
    shown = {}
    for language in ("en", "es"):
        shown[language] = tables(_client(language, marketer(username=f"mia-{language}")).get(url).content.decode())
    assert shown["en"]["groups"][1] == ["Nurture", "40", "2", "40.0%"]
    assert shown["es"]["groups"][1] == ["Nurture", "40", "2", f"40,0{NBSP}%"]
    english_day, spanish_day = shown["en"]["trend"][1][0], shown["es"]["trend"][1][0]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", english_day)
    day = date.fromisoformat(english_day)
    assert spanish_day == f"{day:%d/%m/%Y}"
    exported = _client("es", marketer(username="csv")).get(url, {"format": "csv", "section": "trend"})
    assert list(csv.reader(io.StringIO(exported.content.decode())))[1][0] == english_day


@pytest.mark.django_db
def test_the_sales_queue_writes_scores_and_times_in_the_reader_s_language() -> None:
    rep = RepFactory.create()
    lead = LeadFactory.create(first_name="Grace")
    Lead.objects.filter(pk=lead.pk).update(fit_score=1200, engagement_score=34)
    item = QueueItemFactory.create(lead=lead, team=rep.team)
    QueueItem.objects.filter(pk=item.pk).update(entered_at=timezone.make_aware(datetime(2026, 11, 30, 9, 15)))
    pages = {}
    for language in ("en", "es"):
        pages[language] = _client(language, rep.user).get(reverse("sales:queue")).content.decode()
    assert '<span class="score-value">1,234</span>' in pages["en"]
    assert '<span class="score-value">1.234</span>' in pages["es"]
    assert "In the queue since 2026-11-30 09:15" in pages["en"]
    assert "En la cola desde el 30/11/2026 09:15" in pages["es"]
