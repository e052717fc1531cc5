"""The lead import page as Marketing uses it: a CSV file with a mapping file or a mapping
written in the form, errors on the field at fault (never a 500), the import's progress as
JSON with its counts and rows set aside; who may use it; the lead list's CSV export; and
the import run by a real Celery worker on PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from intake import imports
from intake.models import LeadImport
from routing.models import Outcome
from scoring.models import Lead
from tests.conftest import Workers, wait_for
from tests.factories import LeadFactory
from tests.routing.factories import UserFactory, marketer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADD = "admin:intake_leadimport_add"
CSV = b"Email,Name,Plan,Visits\nann@example.com,Ann,pro,3 visits\nbad-email,Bo,basic,1\nce@example.com,Ce,basic,lots\n"
MAPPING = b"""key: {column: Email, field: email}
fields: {Name: first_name}
attributes:
  Plan: {name: plan, type: category}
  Visits: {name: visits, type: number}
"""

pytestmark = pytest.mark.django_db


def signed_in() -> Client:
    client = Client()
    client.force_login(marketer())
    return client


def upload(client: Client, *, mapping: bytes | None = MAPPING, data: bytes = CSV, **fields: str) -> object:
    post: dict[str, object] = {"csv_file": SimpleUploadedFile("leads.csv", data, "text/csv"), **fields}
    if mapping is not None:
        post["mapping_file"] = SimpleUploadedFile("mapping.yaml", mapping, "application/yaml")
    return client.post(reverse(ADD), post)


def test_a_marketer_uploads_a_file_and_sees_its_progress_counts_and_errors() -> None:
    client = signed_in()
    assert client.get(reverse(ADD)).status_code == 200

    response = upload(client)

    assert response.status_code == 302  # type: ignore[attr-defined]
    record = LeadImport.objects.get()
    assert (record.file_name, record.status) == ("leads.csv", LeadImport.Status.QUEUED)
    progress_url = reverse("admin:intake_leadimport_progress", args=[record.pk])
    assert client.get(progress_url).json()["finished"] is False

    assert imports.lead_import_run(import_id=record.pk)
    assert not imports.lead_import_run(import_id=record.pk)  # done: a second delivery does nothing

    data = client.get(progress_url).json()
    assert data["status"] == "done"
    assert data["percent"] == 100
    assert data["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "set_aside": 2, "outcomes": 0}
    assert [(e["row"], e["column"]) for e in data["errors"]] == [(3, "Email"), (4, "Visits")]
    assert Lead.objects.get().attributes == {"plan": "pro", "visits": 3}
    page = client.get(reverse("admin:intake_leadimport_change", args=[record.pk])).content.decode()
    assert "is not a number" in page
    assert "intake/lead_import.js" in page


def test_a_mapping_written_in_the_form_works_too() -> None:
    client = signed_in()

    response = upload(
        client,
        mapping=None,
        key_column="Email",
        key_field="email",
        columns="Name: first_name",
        attributes="Plan: plan category\nVisits: visits number",
    )

    assert response.status_code == 302  # type: ignore[attr-defined]
    imports.lead_import_run(import_id=LeadImport.objects.get().pk)
    assert Lead.objects.get().first_name == "Ann"


def test_a_mapping_written_in_the_form_takes_open_leads_and_a_lost_reason_column() -> None:
    data = b"Email,Status,Why\nann@example.com,Lost,Too dear\nbo@example.com,Open,\ncy@example.com,Stalled,\n"

    response = upload(
        signed_in(),
        mapping=None,
        data=data,
        key_column="Email",
        outcome_column="Status",
        won_values="Won",
        lost_values="Lost",
        open_values="Open, In progress",
        reason_column="Why",
    )

    assert response.status_code == 302  # type: ignore[attr-defined]
    record = LeadImport.objects.get()
    imports.lead_import_run(import_id=record.pk)
    record.refresh_from_db()
    assert (record.created_count, record.set_aside_count, record.outcomes_count) == (3, 0, 1)
    assert [(e["row"], e["column"], e["value"]) for e in record.errors] == [(4, "Status", "Stalled")]
    assert Outcome.objects.get().reason == "Too dear"


@pytest.mark.parametrize(
    ("mapping", "fields", "field", "words"),
    [
        (b"key: {column: Email, field: phone}", {}, "mapping_file", "key.field"),
        (b"key: Email\nfields: {Name: nickname}", {}, "mapping_file", "fields.Name"),
        (b"key: [", {}, "mapping_file", "not valid YAML"),
        (b"key: {column: Mail, field: email}", {}, "mapping_file", "no column 'Mail'"),
        (b"\xff\xfe\x00", {}, "mapping_file", "UTF-8"),
        (b"key: Email\nencoding: rot13", {}, "mapping_file", "not a text encoding"),
        (None, {"columns": "Name: first_name"}, "key_column", "key"),
        (None, {"key_column": "Email", "attributes": "Plan: plan money"}, "attributes", "attributes.Plan.type"),
        (None, {"key_column": "Email", "columns": "Name first_name"}, "columns", "line 1"),
        (None, {"key_column": "Email", "outcome_column": "Visits"}, "outcome_column", "outcome.won"),
        (
            None,
            {
                "key_column": "Email",
                "outcome_column": "Plan",
                "won_values": "pro",
                "lost_values": "x",
                "open_values": "Pro",
            },
            "open_values",
            "listed as won too",
        ),
        (
            None,
            {
                "key_column": "Email",
                "outcome_column": "Plan",
                "won_values": "pro",
                "lost_values": "x",
                "reason_column": "Why",
            },
            "reason_column",
            "no column 'Why'",
        ),
    ],
)
def test_a_bad_mapping_is_a_form_error_on_its_field(mapping: bytes | None, fields: Any, field: str, words: str) -> None:
    response = upload(signed_in(), mapping=mapping, **fields)

    assert response.status_code == 200  # type: ignore[attr-defined]
    errors = response.context["adminform"].form.errors  # type: ignore[attr-defined]
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert not LeadImport.objects.exists()


def test_an_empty_file_is_a_form_error() -> None:
    response = upload(signed_in(), data=b"\n\n")
    assert "empty" in " ".join(response.context["adminform"].form.errors["csv_file"])  # type: ignore[attr-defined]


def test_only_those_allowed_import_and_only_marketing_has_the_permission() -> None:
    outsider = Client()
    outsider.force_login(UserFactory.create(is_staff=True))
    assert outsider.get(reverse(ADD)).status_code == 403
    record = LeadImport.objects.create(file_name="x.csv", data=b"", mapping="key: id")
    assert outsider.get(reverse("admin:intake_leadimport_progress", args=[record.pk])).status_code == 403
    codenames = set(
        Group.objects.get(name="Marketing")
        .permissions.filter(content_type__app_label="intake", content_type__model="leadimport")
        .values_list("codename", flat=True)
    )
    assert codenames == {"add_leadimport", "view_leadimport"}


def test_the_lead_list_exports_the_selected_leads_as_safe_csv() -> None:
    chosen = LeadFactory.create(email="x@example.com", company="=1+2", attributes={"plan": "pro"})
    LeadFactory.create(email="other@example.com")

    response = signed_in().post(
        reverse("admin:scoring_lead_changelist"), {"action": "export_csv", "_selected_action": [chosen.pk]}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["email"], r["company"], r["attributes.plan"]) for r in rows] == [("x@example.com", "'=1+2", "pro")]


def test_a_worker_runs_the_import_on_postgresql(celery_workers: Workers) -> None:
    celery_workers.start(1)
    mapping = (EXAMPLES / "messy_leads_mapping.yaml").read_text()

    record = imports.lead_import_start(
        data=(EXAMPLES / "messy_leads.csv").read_bytes(), file_name="messy_leads.csv", mapping_text=mapping
    )

    wait_for(
        lambda: LeadImport.objects.get(pk=record.pk).status == LeadImport.Status.DONE,
        timeout=120,
        message=f"the import to finish\n{celery_workers.logs()}",
    )
    record.refresh_from_db()
    assert (record.total_rows, record.done_rows) == (10, 10)
    assert (record.created_count, record.set_aside_count, record.outcomes_count) == (4, 6, 3)
    assert {(e["row"], e["column"]) for e in record.errors} >= {
        (6, "Email"),
        (7, "Visits"),
        (11, "Status"),  # Pending: its lead imported, its outcome not
        (13, "(whole row)"),
    }
    assert Lead.objects.count() == 4


def test_the_page_says_how_it_reads_the_file() -> None:
    """The encoding, delimiter and decimal mark it found, so a marketer sees a wrong guess
    before the rows come out wrong (and can name the right one in the mapping)."""
    client = signed_in()
    data = "Email;Name;Plan;Visits\nbego@example.com;Begoña;pro;1.234,5\n".encode("cp1252")

    response = client.post(
        reverse(ADD),
        {
            "csv_file": SimpleUploadedFile("leads.csv", data, "text/csv"),
            "mapping_file": SimpleUploadedFile("mapping.yaml", MAPPING, "application/yaml"),
        },
        follow=True,
    )

    shown = [str(m) for m in response.context["messages"]]
    assert any("cp1252" in m and "';'" in m and "decimal ','" in m for m in shown), shown


def in_spanish() -> Client:
    client = Client(headers={"accept-language": "es"})
    client.force_login(marketer())
    return client


@pytest.mark.parametrize(
    ("mapping", "data", "fields", "field", "words"),
    [
        (
            b"key: {column: Email, field: phone}",
            CSV,
            {},
            "mapping_file",
            "En las correspondencias, key.field: debe ser",
        ),
        (b"key: Email\nfields: {Name: nickname}", CSV, {}, "mapping_file", "no es un campo del lead"),
        (
            b"key: [",
            CSV,
            {},
            "mapping_file",
            "no es YAML válido (línea 1): el archivo termina donde debería haber un valor: cierra cada lista",
        ),
        (b"key: Email\nencoding: rot13", CSV, {}, "mapping_file", "no es una codificación de texto"),
        (b"key: {column: Mail, field: email}", CSV, {}, "mapping_file", "el archivo no tiene la columna 'Mail'"),
        (MAPPING, b"\n\n", {}, "csv_file", "el archivo está vacío"),
        (b"key: Email\nencoding: ascii", "Email\nzoë@example.com\n".encode(), {}, "csv_file", "no está en ascii"),
        (None, CSV, {"columns": "Name: first_name"}, "key_column", "key: obligatorio: la columna que identifica"),
        (None, CSV, {"key_column": "Email", "columns": "Name first_name"}, "columns", "la línea 1 debe decir"),
    ],
)
def test_a_file_refused_whole_is_said_in_spanish(
    mapping: bytes | None, data: bytes, fields: Any, field: str, words: str
) -> None:
    response = upload(in_spanish(), mapping=mapping, data=data, **fields)

    assert response.status_code == 200  # type: ignore[attr-defined]
    errors = response.context["adminform"].form.errors  # type: ignore[attr-defined]
    assert words in " ".join(errors[field]), errors


def test_an_import_refused_by_its_worker_is_said_in_spanish_and_kept_in_english() -> None:
    record = imports.lead_import_start(data=b"email\n", file_name="leads.csv", mapping_text="key: {column: Mail}")
    records = [record, imports.lead_import_start(data=b"", file_name="empty.csv", mapping_text="key: email")]
    for each in records:
        assert imports.lead_import_run(import_id=each.pk)

    client = in_spanish()
    missing, empty = (client.get(reverse("admin:intake_leadimport_progress", args=[r.pk])).json() for r in records)
    assert missing["failure"] == "key.column: el archivo no tiene la columna 'Mail' (sus columnas: email)"
    assert empty["failure"] == "el archivo está vacío"
    page = client.get(reverse("admin:intake_leadimport_change", args=[record.pk])).content.decode()
    assert "el archivo no tiene la columna" in page
    record.refresh_from_db()
    assert record.failure == "key.column: the file has no column 'Mail' (its columns: email)"


def test_a_failure_stored_before_reads_as_stored() -> None:
    record = LeadImport.objects.create(
        file_name="old.csv",
        data=b"",
        mapping="key: email",
        status=LeadImport.Status.FAILED,
        failure="the file is empty",
    )

    data = in_spanish().get(reverse("admin:intake_leadimport_progress", args=[record.pk])).json()

    assert data["failure"] == "the file is empty"


def test_in_spanish_the_import_is_named_by_its_local_time_and_its_file_as_written(settings: Any) -> None:
    """The page's title and breadcrumb give the upload's time as its fields do (Lima's
    clock, Spanish order), and no message turns the file's name into "Leads_andina.csv"."""
    settings.LANGUAGE_CODE = "es"
    settings.TIME_ZONE = "America/Lima"
    client = signed_in()

    response = client.post(
        reverse(ADD),
        {
            "csv_file": SimpleUploadedFile("leads_andina.csv", CSV, "text/csv"),
            "mapping_file": SimpleUploadedFile("mapping.yaml", MAPPING, "application/yaml"),
        },
        follow=True,
    )

    page = response.content.decode()
    record = LeadImport.objects.get()
    lima = record.created_at.astimezone(ZoneInfo("America/Lima"))
    assert f"leads_andina.csv ({lima:%d/%m/%Y %H:%M})" in page
    assert f"{record.created_at:%Y-%m-%d %H:%M}" not in page
    assert "Leads_andina" not in page
    assert "leads_andina.csv se lee como" in page
