"""Reports on a read replica (LEADFLOW_REPORTS_DATABASE_URL): the overview, every report
page, its CSV and the predictive page read from the replica; writes stay on the primary;
with the setting unset there is one database and the pages read it alone; a URL that is
not a replica's stops the start naming the setting."""

from __future__ import annotations

import runpy
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reports import origins, replica
from reports.models import MqlTarget
from reports.replica import ReportsReplicaRouter
from reports.tables import REPORTS
from scoring.models import Lead
from tests.reports.dataset import overview_data
from tests.routing.factories import marketer

ROOT = Path(__file__).resolve().parents[2]
PRIMARY = "postgres://leadflow:db-password@127.0.0.1:5432/leadflow"
# Tables a page's sign-in and permission checks read (on the primary, before the page runs).
SIGN_IN_TABLES = ("django_session", "auth_user", "auth_group", "auth_permission", "django_content_type")
# The replica's connection exists on PostgreSQL only (tests/settings.py); elsewhere the tests skip.
BOTH = [DEFAULT_DB_ALIAS, *(["reports"] if "reports" in django_settings.DATABASES else [])]
APP_TABLES = ('"scoring_', '"reports_', '"routing_', '"nurture_', '"intake_')


def settings_with(monkeypatch: pytest.MonkeyPatch, **extra: str) -> dict[str, Any]:
    """project/settings.py as a process with this environment reads it."""
    with monkeypatch.context() as patch:
        patch.setenv("DATABASE_URL", PRIMARY)
        patch.setenv("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
        patch.delenv("LEADFLOW_REPORTS_DATABASE_URL", raising=False)
        for name, value in extra.items():
            patch.setenv(name, value)
        return runpy.run_path(str(ROOT / "project" / "settings.py"))


def test_unset_there_is_one_database_and_no_router(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_with(monkeypatch)
    assert list(loaded["DATABASES"]) == ["default"]
    assert loaded["DATABASE_ROUTERS"] == []
    assert loaded["LEADFLOW_REPORTS_DATABASE"] is None


def test_set_it_adds_the_replica_and_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_with(
        monkeypatch, LEADFLOW_REPORTS_DATABASE_URL="postgres://reader:pw@replica.example:5432/leadflow"
    )
    reports = loaded["DATABASES"]["reports"]
    assert (reports["HOST"], reports["NAME"], reports["USER"]) == ("replica.example", "leadflow", "reader")
    assert reports["TEST"] == {"MIRROR": "default"}  # tests never make a database on it
    assert loaded["LEADFLOW_REPORTS_DATABASE"] == "reports"
    assert loaded["DATABASE_ROUTERS"] == ["reports.replica.ReportsReplicaRouter"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("replica.example:5432", "is not a database URL"),
        ("postgres://reader:secret-pw@replica.example:notaport/leadflow", "is not a database URL"),
        ("sqlite:///var/replica.sqlite3", "must name a replica of DATABASE_URL's database"),
        ("postgres://reader:secret-pw@replica.example:5432", "must name a replica of DATABASE_URL's database"),
    ],
)
def test_a_url_that_is_not_a_replica_stops_the_start(monkeypatch: pytest.MonkeyPatch, url: str, reason: str) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        settings_with(monkeypatch, LEADFLOW_REPORTS_DATABASE_URL=url)
    message = str(refused.value)
    assert message.startswith("LEADFLOW_REPORTS_DATABASE_URL ")
    assert reason in message
    assert "secret-pw" not in message


def test_the_router_keeps_migrations_and_writes_off_the_replica(settings: Any) -> None:
    settings.LEADFLOW_REPORTS_DATABASE = "reports"
    router = ReportsReplicaRouter()
    assert router.allow_migrate("reports", "scoring", "lead") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "scoring", "lead") is None
    assert router.db_for_read(Lead) is None  # outside a report page: Django's default
    assert replica.alias() == DEFAULT_DB_ALIAS
    with replica.reading():
        assert router.db_for_read(Lead) == "reports"
        assert router.db_for_write(Lead) == DEFAULT_DB_ALIAS
        assert replica.alias() == "reports"
    assert router.db_for_read(Lead) is None
    settings.LEADFLOW_REPORTS_DATABASE = None
    with replica.reading():
        assert replica.alias() == DEFAULT_DB_ALIAS


# --- on PostgreSQL, with the replica as a second connection to the test database ----------


def pages() -> list[str]:
    return [
        "/reports/",
        *(f"/reports/?format=csv&section={key}" for key in ("groups", "funnel", "mqls")),
        "/reports/predictive/",
        *(f"/reports/{report.slug}/" for report in REPORTS),
        *(f"/reports/{report.slug}/csv" for report in REPORTS),
    ]


def read(client: Client, url: str) -> tuple[list[str], list[str]]:
    """The page's statements on the primary and on the replica."""
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections["reports"]) as replica_,
    ):
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:500])
    return [q["sql"] for q in primary.captured_queries], [q["sql"] for q in replica_.captured_queries]


@pytest.fixture
def replica_on(settings: Any) -> None:
    """The replica configured, as LEADFLOW_REPORTS_DATABASE_URL makes it (undone after the test)."""
    settings.LEADFLOW_REPORTS_DATABASE = "reports"
    settings.DATABASE_ROUTERS = ["reports.replica.ReportsReplicaRouter"]


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_every_report_reads_from_the_replica(postgres: None, replica_on: None) -> None:
    overview_data()
    client = Client()
    client.force_login(marketer(username="mia"))
    for url in pages():
        primary, reports = read(client, url)
        assert reports, url
        # On the primary: the sign-in and permission checks before the page runs, and the
        # predictive page's settings row, made (on the primary) the first time it is read.
        elsewhere = [
            sql
            for sql in primary
            if not any(table in sql for table in (*SIGN_IN_TABLES, '"scoring_predictivesettings"'))
            and not sql.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT"))
        ]
        assert elsewhere == [], url
    # The figures are the data's, read through the replica.
    page = client.get("/reports/?format=csv&section=groups").content.decode()
    assert "Nurture,40,2,40.0%" in page.replace("\r", "")


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_a_write_during_a_report_goes_to_the_primary(postgres: None, replica_on: None) -> None:
    MqlTarget.objects.create(month=date(2026, 11, 1), target=3)
    with (
        replica.reading(),
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections["reports"]) as replica_,
    ):
        found = MqlTarget.objects.get(month=date(2026, 11, 1))
        assert found._state.db == "reports"
        found.target = 5
        found.save(update_fields=["target"])
    assert [q["sql"] for q in replica_.captured_queries if q["sql"].startswith("UPDATE")] == []
    assert [q["sql"] for q in primary.captured_queries if q["sql"].startswith("UPDATE")] != []
    assert MqlTarget.objects.using(DEFAULT_DB_ALIAS).get(pk=found.pk).target == 5


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_the_nightly_roll_up_is_written_on_the_primary_and_read_from_the_replica(
    postgres: None, replica_on: None
) -> None:
    overview_data()
    with CaptureQueriesContext(connections["reports"]) as during_rebuild:
        origins.origins_rebuild()
    assert during_rebuild.captured_queries == []
    client = Client()
    client.force_login(marketer(username="mia"))
    primary, reports = read(client, "/reports/?format=csv&section=groups")
    assert any('"reports_scorecount"' in sql for sql in reports)  # the kept counts, not every lead
    assert not any('"reports_' in sql for sql in primary)
    page = client.get("/reports/?format=csv&section=groups").content.decode()
    assert "Nurture,40,2,40.0%" in page.replace("\r", "")


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_unset_a_report_reads_the_primary_only(postgres: None) -> None:
    overview_data()
    client = Client()
    client.force_login(marketer(username="mia"))
    for url in ("/reports/", f"/reports/{REPORTS[0].slug}/", f"/reports/{REPORTS[0].slug}/csv"):
        primary, reports = read(client, url)
        assert reports == [], url
        assert any(table in sql for sql in primary for table in APP_TABLES), url
