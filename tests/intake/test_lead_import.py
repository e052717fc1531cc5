"""Importing leads from CSV files as people's tools write them: the messy example's rows
set aside with their row and column, a second import changing nothing, encodings, line
endings, numbers with stray text, the X Education history with its outcomes, and the
export read back in."""

from __future__ import annotations

import csv
import io
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.utils import translation

from intake import imports
from intake.imports.rows import decimal_mark_find, number_parse
from routing.models import Outcome
from scoring import model_file, services
from scoring.lead_export import leads_export
from scoring.models import Lead, LifecycleStage, PendingFit, ScoreEntry
from tests.factories import LeadFactory, ScoreGroupFactory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# The datasets sit beside the checkout (../shared/datasets), or where LEADFLOW_DATASETS says.
X_EDUCATION = Path(os.environ.get("LEADFLOW_DATASETS", ROOT.parent / "shared" / "datasets")) / "x_education_leads.csv"

pytestmark = pytest.mark.django_db

SIMPLE = imports.mapping_load(
    """
key: {column: email, field: email}
fields: {first name: first_name, city: city}
attributes:
  plan: {name: plan, type: category}
  visits: {name: visits, type: number}
outcome: {column: result, won: [won], lost: [lost]}
"""
)


NAMES = imports.mapping_load(
    "key: {column: email, field: email}\nfields: {first name: first_name, city: city}\nattributes: {plan: plan}\n"
)


def messy() -> imports.ImportResult:
    mapping = imports.mapping_load((EXAMPLES / "messy_leads_mapping.yaml").read_text())
    return imports.leads_import(data=(EXAMPLES / "messy_leads.csv").read_bytes(), mapping=mapping)


def test_the_messy_file_imports_its_good_rows_and_names_row_and_column_of_each_bad_one() -> None:
    result = messy()

    assert {(e.row, e.column) for e in result.errors} == {
        (6, "Email"),  # not-an-email
        (7, "Plan"),  # platinum: not a listed category
        (7, "Visits"),  # "lots"
        (8, "Newsletter"),  # "maybe"
        (11, "Status"),  # "Pending": neither won nor lost, so Fay comes in without an outcome
        (12, "Email"),  # ana@example.com again
        (13, "(whole row)"),  # two cells too many
        (14, "Time on site"),  # "1 234": two numbers
    }
    assert "same key as row 2" in next(e.reason for e in result.errors if e.row == 12)
    assert result.counts() == {
        "total": 10,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "set_aside": 6,
        "outcomes_recorded": 3,
    }
    ana = Lead.objects.get(email="ana@example.com")
    assert (ana.first_name, ana.last_name, ana.company) == ("Ana", "Pérez", "Acme; Inc.")
    assert ana.annual_revenue == Decimal("1200.00")
    # Typed attributes: "12 visits" → 12, "1,234.5" seconds → 1235, a quoted line break kept.
    assert ana.attributes == {
        "plan": "pro",
        "newsletter": True,
        "notes": "first line\nsecond line",
        "total_visits": 12,
        "time_on_site": 1235,
    }
    bob = Lead.objects.get(email="bob@example.com")
    # "Select", "NA", "n/a" and empty cells are missing: fields left blank, no attribute key.
    assert (bob.last_name, bob.country, bob.industry) == ("", "", "")
    assert "notes" not in bob.attributes
    ivy = Lead.objects.get(email="ivy@example.com")
    assert ivy.attributes == {"plan": "basic"}
    assert set(Lead.objects.values_list("email", flat=True)) == {
        "ana@example.com",
        "bob@example.com",
        "fay@example.com",
        "ivy@example.com",
    }
    assert Lead.objects.get(email="fay@example.com").company == "Stark"
    assert ana.lifecycle_stage == LifecycleStage.CUSTOMER
    kinds = dict(Outcome.objects.values_list("lead__email", "kind"))
    assert kinds == {"ana@example.com": "won", "bob@example.com": "lost", "ivy@example.com": "lost"}
    assert set(Outcome.objects.values_list("source", flat=True)) == {"csv-import"}
    assert Outcome.objects.get(lead=ana).client_id == "csv-import:won:ana@example.com"


def test_importing_the_same_file_again_changes_nothing() -> None:
    messy()
    before = list(Lead.objects.order_by("pk").values("pk", "email", "attributes", "updated_at", "lifecycle_stage"))
    outcomes_before = list(Outcome.objects.order_by("pk").values_list("pk", "lead_id", "kind"))

    again = messy()

    assert (again.created, again.updated, again.unchanged, again.set_aside) == (0, 0, 4, 6)
    assert again.outcomes_recorded == 0
    assert list(Lead.objects.order_by("pk").values("pk", "email", "attributes", "updated_at", "lifecycle_stage")) == (
        before
    )
    assert list(Outcome.objects.order_by("pk").values_list("pk", "lead_id", "kind")) == outcomes_before


def test_a_changed_row_updates_its_lead_and_a_changed_outcome_is_recorded_once() -> None:
    first = b"email,first name,city,plan,visits,result\nmo@example.com,Mo,Paris,basic,3,lost\n"
    imports.leads_import(data=first, mapping=SIMPLE)
    changed = b"email,first name,city,plan,visits,result\nMO@example.com,Mo,Lyon,basic,4 visits,won\n"

    result = imports.leads_import(data=changed, mapping=SIMPLE)
    imports.leads_import(data=changed, mapping=SIMPLE)

    assert (result.created, result.updated, result.outcomes_recorded) == (0, 1, 1)
    lead = Lead.objects.get()
    assert (lead.city, lead.attributes) == ("Lyon", {"plan": "basic", "visits": 4})
    assert list(Outcome.objects.order_by("at", "pk").values_list("kind", flat=True)) == ["lost", "won"]


# A German CRM export: its open leads ("Offen", "In Bearbeitung") beside the closed ones,
# and a column saying why each lost lead was lost.
CRM_EXPORT = (
    b"E-Mail;Vorname;Status;Verlustgrund\n"
    b"anna@example.de;Anna;Gewonnen;\n"
    b"ben@example.de;Ben;Verloren;Zu teuer\n"
    b"cora@example.de;Cora;Offen;\n"
    b"dirk@example.de;Dirk;In Bearbeitung;\n"
    b"emil@example.de;Emil;Verloren;\n"
    b"frieda@example.de;Frieda;offen;\n"
)
CRM_MAPPING = """
key: {column: E-Mail, field: email}
fields: {Vorname: first_name}
outcome:
  column: Status
  won: [Gewonnen]
  lost: [Verloren]
  open: [Offen]
  reason_column: Verlustgrund
  reason: Verloren vor dem Import
"""


def test_a_crm_export_s_open_leads_are_imported_and_an_unknown_outcome_is_reported_not_the_lead() -> None:
    mapping = imports.mapping_load(CRM_MAPPING)

    result = imports.leads_import(data=CRM_EXPORT, mapping=mapping)

    # Every lead comes in; only Dirk's outcome, a value the mapping does not list, is left out.
    assert (result.created, result.set_aside, result.outcomes_recorded) == (6, 0, 3)
    assert [(e.row, e.column, e.value) for e in result.errors] == [(5, "Status", "In Bearbeitung")]
    assert "outcome not recorded" in result.errors[0].reason
    assert "open, no outcome yet (Offen)" in result.errors[0].reason
    assert Lead.objects.count() == 6
    recorded = {
        email: (kind, reason) for email, kind, reason in Outcome.objects.values_list("lead__email", "kind", "reason")
    }
    assert recorded == {
        "anna@example.de": ("won", ""),
        "ben@example.de": ("lost", "Zu teuer"),  # from the reason column
        "emil@example.de": ("lost", "Verloren vor dem Import"),  # its cell empty: the mapping's reason
    }
    assert Lead.objects.get(email="cora@example.de").lifecycle_stage != LifecycleStage.CUSTOMER

    again = imports.leads_import(data=CRM_EXPORT, mapping=mapping)

    assert (again.created, again.updated, again.unchanged, again.set_aside, again.outcomes_recorded) == (0, 0, 6, 0, 0)
    assert [(e.row, e.column) for e in again.errors] == [(5, "Status")]
    assert Outcome.objects.count() == 3


def test_without_open_values_an_open_lead_is_imported_without_its_outcome() -> None:
    mapping = imports.mapping_load(
        "key: {column: E-Mail, field: email}\noutcome: {column: Status, won: [Gewonnen], lost: [Verloren]}"
    )

    result = imports.leads_import(data=CRM_EXPORT, mapping=mapping)

    assert (result.created, result.set_aside, result.outcomes_recorded) == (6, 0, 3)
    assert [(e.row, e.value) for e in result.errors] == [(4, "Offen"), (5, "In Bearbeitung"), (7, "offen")]
    assert "open, no outcome yet (none)" in result.errors[0].reason


def test_a_lost_reason_that_cannot_be_kept_leaves_the_outcome_out_naming_its_column() -> None:
    mapping = imports.mapping_load(CRM_MAPPING)
    data = (
        f"E-Mail;Vorname;Status;Verlustgrund\nlong@example.de;;Verloren;{'x' * 301}\nok@example.de;;Verloren;Budget\n"
    )

    result = imports.leads_import(data=data.encode(), mapping=mapping)

    assert (result.created, result.set_aside, result.outcomes_recorded) == (2, 0, 1)
    assert [(e.row, e.column) for e in result.errors] == [(2, "Verlustgrund")]
    assert "at most 300 characters" in result.errors[0].reason
    assert Outcome.objects.get().reason == "Budget"


def test_a_row_set_aside_lists_its_unknown_outcome_too() -> None:
    data = b"email,first name,city,plan,visits,result\nx@example.com,Xi,Rome,basic,lots,maybe\n"

    result = imports.leads_import(data=data, mapping=SIMPLE)

    assert (result.created, result.set_aside) == (0, 1)
    assert [(e.column, e.value) for e in result.errors] == [("visits", "lots"), ("result", "maybe")]


TEXT = "email,first name,city,plan\njose@example.com,José,Málaga,\nzoe@example.com,Zoë,Düsseldorf,\n"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(TEXT.encode("utf-8"), id="utf-8"),
        pytest.param(b"\xef\xbb\xbf" + TEXT.encode("utf-8"), id="utf-8 with BOM"),
        pytest.param(TEXT.encode("cp1252"), id="cp1252"),
        pytest.param(TEXT.encode("latin-1"), id="latin-1"),
        pytest.param(TEXT.encode("utf-16"), id="utf-16 with BOM"),
        pytest.param(TEXT.encode("utf-16-le"), id="utf-16-le"),
        pytest.param(TEXT.encode("utf-16-be"), id="utf-16-be"),
    ],
)
def test_files_in_several_encodings_read_the_same(data: bytes) -> None:
    result = imports.leads_import(data=data, mapping=NAMES)

    assert result.created == 2, result.errors
    assert dict(Lead.objects.values_list("email", "first_name")) == {
        "jose@example.com": "José",
        "zoe@example.com": "Zoë",
    }
    assert Lead.objects.get(email="zoe@example.com").city == "Düsseldorf"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r", "\r\r\n"], ids=["LF", "CRLF", "CR", "CR CR LF"])
def test_line_endings_blank_lines_and_line_breaks_in_quotes(ending: str) -> None:
    lines = [
        "email,first name,city,plan",
        "",
        'a@example.com,Ann,"New',
        'York",basic',
        "",
        "",
        "b@example.com,Ben,Rome,",
    ]
    result = imports.leads_import(data=ending.join(lines).encode(), mapping=NAMES)

    assert (result.created, result.set_aside) == (2, 0)
    assert Lead.objects.get(email="a@example.com").city == "New\nYork"
    assert Lead.objects.get(email="b@example.com").attributes == {}


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", 12),
        ("12 visits", 12),
        ("1,234.5", 1234.5),
        ("1.234,5", 1234.5),
        ("$1,200.00", 1200),
        ("2.5", 2.5),
        ("-3", -3),
        ("45%", 45),
        ("1e3", 1000),
        ("0,5", 0.5),
    ],
)
def test_numbers_with_stray_text(text: str, number: float) -> None:
    assert number_parse(text) == number


@pytest.mark.parametrize(
    ("text", "decimal", "number"),
    [
        ("1.250", ",", 1250),
        ("120.000 €", ",", 120000),
        ("1.234.567", ",", 1234567),
        ("1.234,56", ",", 1234.56),
        ("0,5", ",", 0.5),
        ("1,250", ".", 1250),
        ("$1,200", ".", 1200),
        ("1,234,567.5", ".", 1234567.5),
        ("2.5", ".", 2.5),
        # Two groups tell the thousands apart whatever the file says of decimals.
        ("1.234.567", None, 1234567),
    ],
)
def test_numbers_read_with_the_file_s_decimal_mark(text: str, decimal: str | None, number: float) -> None:
    assert number_parse(text, decimal=decimal) == number


@pytest.mark.parametrize(
    ("text", "readings"), [("1.250", "1250 or 1.25"), ("120.000", "120000 or 120"), ("1,500", "1500 or 1.5")]
)
def test_a_number_that_reads_two_ways_is_refused_with_both_readings(text: str, readings: str) -> None:
    with pytest.raises(ValueError, match=readings):
        number_parse(text)


@pytest.mark.parametrize(("text", "decimal"), [("2.5", ","), ("1,5", "."), ("1.2345", ",")])
def test_a_number_the_file_s_decimal_mark_does_not_fit_is_refused(text: str, decimal: str) -> None:
    with pytest.raises(ValueError, match="decimal"):
        number_parse(text, decimal=decimal)


SPANISH_NUMBERS = (
    "Email;Facturación;Visitas;Nº empleados\nana@example.com;120.000;1.234;1.250\nbea@example.com;1.234,56;7;12\n"
)
NUMBERS = imports.mapping_load(
    "key: {column: Email, field: email}\nfields: {Facturación: annual_revenue, Nº empleados: company_size}\n"
    "activity: {Visitas: visits}\n"
)


def test_a_file_writing_decimals_after_a_comma_reads_dots_as_thousands() -> None:
    """One cell with a decimal comma (1.234,56) tells how the whole file writes numbers:
    Spanish Excel's 120.000 is a hundred and twenty thousand, not 120."""
    result = imports.leads_import(data=SPANISH_NUMBERS.encode(), mapping=NUMBERS)

    assert (result.decimal, result.errors) == (",", [])
    ana = Lead.objects.get(email="ana@example.com")
    assert (ana.annual_revenue, ana.attributes["visits"], ana.company_size) == (Decimal("120000.00"), 1234, 1250)
    assert Lead.objects.get(email="bea@example.com").annual_revenue == Decimal("1234.56")


def test_the_mapping_names_the_decimal_mark_of_a_file_that_does_not_show_it() -> None:
    data = SPANISH_NUMBERS.splitlines()[0] + "\nana@example.com;120.000;1.234;1.250\n"
    told = imports.mapping_load(
        "key: {column: Email, field: email}\ndecimal: ','\nfields: {Facturación: annual_revenue}\n"
        "activity: {Visitas: visits}\n"
    )

    imports.leads_import(data=data.encode(), mapping=told)

    ana = Lead.objects.get(email="ana@example.com")
    assert (ana.annual_revenue, ana.attributes["visits"]) == (Decimal("120000.00"), 1234)


@pytest.mark.parametrize(
    "cells",
    [
        pytest.param(("1,250", "$1,200", "3,400"), id="nothing settles"),
        pytest.param(("1,250", "$1,200", "0.125"), id="a leading 0 settles the point"),
    ],
)
def test_an_english_file_on_an_english_site_reads_commas_between_thousands(cells: tuple[str, str, str]) -> None:
    data = "Email,Revenue,Visits,Score\nana@example.com,{},{},{}\n".format(*(f'"{c}"' for c in cells))
    mapping = imports.mapping_load(
        "key: {column: Email, field: email}\nfields: {Revenue: annual_revenue}\nactivity: {Visits: visits}\n"
        "attributes: {Score: {name: score, type: number}}\n"
    )

    result = imports.leads_import(data=data.encode(), mapping=mapping)

    assert (result.decimal, result.errors) == (".", [])
    ana = Lead.objects.get()
    assert (ana.annual_revenue, ana.attributes["visits"]) == (Decimal("1250.00"), 1200)
    assert ana.attributes["score"] == number_parse(cells[2], decimal=".")


def test_a_number_the_file_does_not_tell_how_to_read_is_read_as_the_site_s_language_writes_it(
    settings: Any,
) -> None:
    """Nothing in the file settles "120.000": a Spanish installation reads it as Spanish
    Excel writes it, a hundred and twenty thousand."""
    settings.LANGUAGE_CODE = "es"
    data = SPANISH_NUMBERS.splitlines()[0] + "\nana@example.com;120.000;3;1.250\nbea@example.com;900;4;5\n"

    result = imports.leads_import(data=data.encode(), mapping=NUMBERS)

    assert (result.decimal, result.errors) == (",", [])
    ana = Lead.objects.get(email="ana@example.com")
    assert (ana.annual_revenue, ana.company_size) == (Decimal("120000.00"), 1250)


@pytest.mark.parametrize(("text", "number"), [("0.125", 0.125), ("-0.500", -0.5), ("0,250", 0.25)])
def test_a_leading_0_is_never_a_group_of_thousands(text: str, number: float) -> None:
    assert number_parse(text) == number


@pytest.mark.parametrize(("cells", "mark"), [(["1,250", "0.125"], "."), (["1.250", "0,500"], ",")])
def test_a_leading_0_shows_the_decimal_mark(cells: list[str], mark: str) -> None:
    assert decimal_mark_find(cells) == mark


@pytest.mark.parametrize("text", ["1,2345.6", "12,34.5", "1.2345,6"])
def test_a_badly_grouped_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        number_parse(text)


def test_a_bad_decimal_mark_in_the_mapping_is_refused() -> None:
    with pytest.raises(imports.MappingError, match="decimal"):
        imports.mapping_load("key: id\ndecimal: ';'")


@pytest.mark.parametrize(
    ("text", "reason"), [("lots", "not a number"), ("12-15", "more than one"), ("1.2.3", "not a number")]
)
def test_cells_that_are_no_number_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        number_parse(text)


def test_a_semicolon_file_with_its_own_missing_values() -> None:
    mapping = imports.mapping_load(
        "key: {column: email, field: email}\nmissing: ['?']\nfields: {city: city}\n"
        "attributes: {visits: {name: visits, type: number}}\n"
    )
    data = b"email;city;visits\nq@example.com;?;?\nr@example.com;Select;7\n"

    imports.leads_import(data=data, mapping=mapping)

    assert Lead.objects.get(email="q@example.com").attributes == {}
    # Only the mapping's own list is missing now: "Select" is a city.
    assert Lead.objects.get(email="r@example.com").city == "Select"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("fields: {a: b}", "key"),
        ("key: {column: id, field: phone}", "key.field"),
        ("key: id\nfields: {City: town}", "fields.City"),
        ("key: id\nattributes: {Plan: {name: Plan}}", "attributes.Plan.name"),
        ("key: id\nattributes: {Plan: {name: plan, type: money}}", "attributes.Plan.type"),
        ("key: id\nattributes: {Stage: lifecycle_stage}", "attributes.Stage.name"),
        ("key: id\nactivity: {Score: fit_score}", "activity.Score"),
        ("key: id\noutcome: {column: C, won: ['1']}", "outcome.lost"),
        ("key: id\noutcome: {column: C, won: [Won], lost: [Lost], open: [won]}", "outcome.open"),
        ("key: id\noutcome: {column: C, won: [Won], lost: [Lost], open: [Lost]}", "outcome.open"),
        ("key: id\noutcome: {column: C, won: [Won], lost: [Lost], open: [[Open]]}", "outcome.open"),
        ("key: id\noutcome: {column: C, won: [Won], lost: [Lost], reason_column: ''}", "outcome.reason_column"),
        ("key: id\noutcome: {column: C, won: [Won], lost: [Lost], reason_column: C}", "outcome.reason_column"),
        ("key: id\noutcome: {column: C, won: [Won], lost: [Lost], pending: [Open]}", "outcome.pending"),
        ("key: id\nsheet: 2", "sheet"),
        ("key: [", "mapping"),
        # Codecs Python knows that turn bytes into bytes, not text: a server error on the page.
        ("key: id\nencoding: rot13", "encoding"),
        ("key: id\nencoding: zlib", "encoding"),
        # A name codecs.lookup refuses with ValueError, not LookupError.
        ('key: id\nencoding: "utf\\0-8"', "encoding"),
    ],
)
def test_a_bad_mapping_names_its_field(text: str, field: str) -> None:
    with pytest.raises(imports.MappingError) as refused:
        imports.mapping_load(text)
    assert refused.value.field == field


@pytest.mark.parametrize("encoding", ["undefined", "punycode"])
def test_a_file_its_mapping_s_encoding_cannot_read_is_refused_whole(encoding: str) -> None:
    mapping = imports.mapping_load(f"key: email\nencoding: {encoding}")
    with pytest.raises(imports.FileError) as refused:
        imports.leads_import(data="email\nzoë@example.com\n".encode(), mapping=mapping)
    assert encoding in refused.value.reason
    assert not Lead.objects.exists()


def test_a_mapped_column_missing_from_the_file_refuses_the_file_naming_it() -> None:
    with pytest.raises(imports.MappingError) as refused:
        imports.leads_import(data=b"email,first name,town\na@example.com,Al,Rome\n", mapping=SIMPLE)
    assert refused.value.field == "fields.city"
    assert "town" in refused.value.reason
    assert not Lead.objects.exists()


def test_a_lost_reason_column_missing_from_the_file_refuses_the_file_naming_it() -> None:
    with pytest.raises(imports.MappingError) as refused:
        imports.leads_import(
            data=b"E-Mail;Vorname;Status\na@example.de;Al;Offen\n", mapping=imports.mapping_load(CRM_MAPPING)
        )
    assert refused.value.field == "outcome.reason_column"
    assert "no column 'Verlustgrund'" in refused.value.reason
    assert not Lead.objects.exists()


def test_an_email_another_lead_has_sets_the_row_aside() -> None:
    LeadFactory.create(email="taken@example.com", external_id="other")
    mapping = imports.mapping_load("key: {column: id, field: external_id}\nfields: {mail: email}\n")

    result = imports.leads_import(data=b"id,mail\nk1,taken@example.com\nk2,free@example.com\n", mapping=mapping)

    assert [(e.row, e.column) for e in result.errors] == [(2, "mail")]
    assert "another lead" in result.errors[0].reason
    assert (result.created, result.set_aside) == (1, 1)
    assert Lead.objects.get(external_id="k2").email == "free@example.com"


def test_the_x_education_history_imports_every_lead_and_its_outcome() -> None:
    if not X_EDUCATION.exists():
        pytest.skip(f"{X_EDUCATION} is missing")
    data = X_EDUCATION.read_bytes()
    with X_EDUCATION.open(encoding="utf-8") as file:
        converted = [row["Converted"] for row in csv.DictReader(file)]
    mapping = imports.mapping_load((EXAMPLES / "x_education_mapping.yaml").read_text())

    result = imports.leads_import(data=data, mapping=mapping)

    assert result.errors == []
    assert (result.total, result.created, result.set_aside) == (9240, 9240, 0)
    assert Lead.objects.count() == len(converted) == 9240
    assert Outcome.objects.filter(kind="won").count() == converted.count("1")
    assert Outcome.objects.filter(kind="lost").count() == converted.count("0")
    lead = Lead.objects.get(external_id="7927b2df-8bba-4d29-b9a2-b6e0beafe620")
    assert lead.attributes["lead_origin"] == "API"
    assert lead.attributes["do_not_email"] is False
    assert lead.attributes["total_visits"] == 0
    assert "specialization" not in lead.attributes  # "Select"
    assert lead.attributes["tags"] == "Interested in other courses"  # imported; the trainer leaves it out

    again = imports.leads_import(data=data, mapping=mapping)
    assert (again.unchanged, again.outcomes_recorded) == (9240, 0)
    assert Outcome.objects.count() == 9240


def test_export_reads_back_in_and_is_safe_in_a_spreadsheet() -> None:
    LeadFactory.create(
        email="sly@example.com",
        first_name='=HYPERLINK("http://evil")',
        last_name="@SUM(A1)",
        company="+1 Corp",
        city="-2",
        attributes={"plan": "pro", "visits": 7, "note": "=cmd"},
    )
    LeadFactory.create(email="plain@example.com", first_name="Pat", attributes={})
    out = io.StringIO()

    assert leads_export(out=out) == 2

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    sly = next(r for r in rows if r["email"] == "sly@example.com")
    # No cell starts like a formula: each has a quote in front.
    assert sly["first_name"] == '\'=HYPERLINK("http://evil")'
    assert (sly["last_name"], sly["company"], sly["city"]) == ("'@SUM(A1)", "'+1 Corp", "'-2")
    assert sly["attributes.note"] == "'=cmd"
    assert sly["attributes.visits"] == "7"
    for row in rows:
        assert not any(value.startswith(("=", "+", "-", "@")) for value in row.values())

    # Round trip: the export imported with a mapping gives the same leads.
    Lead.objects.all().delete()
    mapping = imports.mapping_load(
        "key: {column: email, field: email}\n"
        "fields: {first_name: first_name, last_name: last_name, company: company, city: city}\n"
        "attributes:\n  attributes.plan: plan\n  attributes.note: note\n"
        "  attributes.visits: {name: visits, type: number}\n"
    )
    result = imports.leads_import(data=out.getvalue().encode(), mapping=mapping)
    assert (result.created, result.errors) == (2, [])
    back = Lead.objects.get(email="sly@example.com")
    assert (back.first_name, back.last_name, back.company, back.city) == (
        '=HYPERLINK("http://evil")',
        "@SUM(A1)",
        "+1 Corp",
        "-2",
    )
    assert back.attributes == {"plan": "pro", "visits": 7, "note": "=cmd"}


def test_the_commands_import_print_counts_and_errors_and_export(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("leads_import", str(EXAMPLES / "messy_leads.csv"), mapping=str(EXAMPLES / "messy_leads_mapping.yaml"))
    printed = capsys.readouterr().out
    assert "10 rows (utf-8-sig, delimiter ';', decimal '.'): 4 created, 0 updated, 0 unchanged, 6 set aside" in printed
    assert "3 outcomes recorded" in printed
    assert "row 7, column 'Visits': is not a number ('lots')" in printed
    assert "row 11, column 'Status': outcome not recorded: not one of the mapping's outcome values" in printed

    call_command("leads_export")
    exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {row["email"] for row in exported} == {
        "ana@example.com",
        "bob@example.com",
        "fay@example.com",
        "ivy@example.com",
    }
    assert next(r for r in exported if r["email"] == "ana@example.com")["attributes.total_visits"] == "12"


def test_the_export_command_takes_score_groups_and_names_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    hot = ScoreGroupFactory.create(key="hot", name="Hot", min_score=50)
    LeadFactory.create(email="in@example.com", score_group=hot)
    LeadFactory.create(email="out@example.com")

    call_command("leads_export", group=["Hot"])
    exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["email"], r["score_group"]) for r in exported] == [("in@example.com", "Hot")]

    with pytest.raises(CommandError, match=r"no score group 'Cold'.*Hot"):
        call_command("leads_export", group=["Cold"])


def test_the_export_carries_each_scorecard_s_score_and_group(capsys: pytest.CaptureFixture[str]) -> None:
    """A company with a scorecard per product line reads each lead's score on every one of
    them in the file, as the API gives them: the default score alone left them out."""
    services.scoring_model_import(
        spec=model_file.load_text(
            """
leadflow_model: 1
score_groups: [{key: warm, name: Warm, min_score: 20}]
rules: []
scorecards:
  - key: crm
    name: CRM
    score_groups: [{key: crm-hot, name: CRM hot, min_score: 10}]
    rules:
      - {key: sales-title, name: Sales people, dimension: fit, points: 15,
         conditions: [{field: title, operator: contains, value: sales}]}
  - key: helpdesk
    name: Helpdesk
    rules: []
"""
        )
    )
    services.lead_upsert(email="dana@example.com", fields={"title": "VP of Sales"})
    services.lead_upsert(email="raj@example.com", fields={"title": "Analyst"})

    call_command("leads_export")
    exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    columns = ["scorecard.crm.total_score", "scorecard.crm.score_group", "scorecard.helpdesk.total_score"]
    assert [(r["email"], *(r[c] for c in columns), r["scorecard.helpdesk.score_group"]) for r in exported] == [
        ("dana@example.com", "15", "CRM hot", "0", ""),
        ("raj@example.com", "0", "", "0", ""),
    ]


SPANISH_EXCEL = (
    "Email;Nombre;Apellidos;Ciudad;Nº empleados\n"
    "begona@example.com;Begoña;Fernández Peña;A Coruña;12\n"
    "inigo@example.com;Íñigo;Ibáñez;Logroño;3\n"
)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(SPANISH_EXCEL, id="Spanish"),
        pytest.param(SPANISH_EXCEL.splitlines()[0] + "\nbegona@example.com;Begoña;Peña;A Coruña;1\n", id="one row"),
    ],
)
def test_a_windows_1252_file_from_spanish_excel_is_read_as_windows_1252(text: str) -> None:
    """Excel's "CSV (delimitado por punto y coma)" on Spanish Windows: every Central European
    code page reads its bytes too (ñ as ń, º as ş), losing the header and the emails."""
    mapping = imports.mapping_load(
        "key: {column: Email, field: email}\nfields: {Apellidos: last_name, Ciudad: city}\n"
        "attributes: {Nº empleados: {name: employees, type: number}}\n"
    )

    result = imports.leads_import(data=text.encode("cp1252"), mapping=mapping)

    assert (result.encoding, result.errors) == ("cp1252", [])
    begona = Lead.objects.get(email="begona@example.com")
    assert (begona.last_name, begona.city) == (text.split(";")[6], "A Coruña")


def test_a_central_european_file_is_still_read_as_such() -> None:
    text = "email;city\nlukasz@example.com;Łódź, Kraków, Wrocław\nswietoslaw@example.com;Gdańsk, Świętochłowice\n"

    result = imports.leads_import(
        data=text.encode("cp1250"),
        mapping=imports.mapping_load("key: {column: email, field: email}\nfields: {city: city}\n"),
    )

    assert result.encoding == "cp1250"
    assert Lead.objects.get(email="lukasz@example.com").city == "Łódź, Kraków, Wrocław"


def test_imported_leads_are_scored_when_the_import_commits_won_or_not() -> None:
    """The cached scores equal the ledger's sums as soon as the import is done, for a lead
    imported with an outcome as for one without: none waits for a scoring worker."""
    services.scoring_model_import(
        spec=model_file.load_text(
            """
leadflow_model: 1
score_groups: [{key: warm, name: Warm, min_score: 20}]
rules:
  - {key: galicia, name: Galicia, dimension: fit, points: 5,
     conditions: [{field: city, operator: equals, value: A Coruña}]}
  - {key: customer, name: Customers, dimension: fit, points: 3,
     conditions: [{field: lifecycle_stage, operator: equals, value: customer}]}
"""
        )
    )
    data = (
        "email,first name,city,plan,visits,result\nwon@example.com,W,A Coruña,,,won\nopen@example.com,O,A Coruña,,,\n"
    )

    imports.leads_import(data=data.encode(), mapping=SIMPLE)

    for lead in Lead.objects.all():
        ledger = ScoreEntry.objects.filter(lead=lead).aggregate(total=Sum("delta"))["total"] or 0
        assert (lead.fit_score, lead.total_score) == (ledger, ledger), lead.email
    assert dict(Lead.objects.values_list("email", "fit_score")) == {"won@example.com": 8, "open@example.com": 5}
    assert not PendingFit.objects.exists()


def test_the_export_for_excel_writes_semicolons_decimal_commas_and_a_bom(capsys: pytest.CaptureFixture[str]) -> None:
    """Spanish Excel opens a file by its BOM, semicolons and decimal commas; the default
    export stays comma-separated UTF-8 with decimal points, and both import back."""
    LeadFactory.create(email="ana@example.com", city="A Coruña", annual_revenue=Decimal("120000.50"), attributes={})

    call_command("leads_export", excel=True)
    printed = capsys.readouterr().out

    assert printed.startswith("\ufeffemail;")
    row = next(csv.DictReader(io.StringIO(printed.removeprefix("\ufeff")), delimiter=";"))
    assert (row["city"], row["annual_revenue"]) == ("A Coruña", "120000,50")

    call_command("leads_export")
    plain = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert plain["annual_revenue"] == "120000.50"

    Lead.objects.all().delete()
    mapping = imports.mapping_load("key: {column: email, field: email}\nfields: {annual_revenue: annual_revenue}\n")
    result = imports.leads_import(data=printed.encode("utf-8"), mapping=mapping)
    assert (result.created, result.errors, result.delimiter, result.decimal) == (1, [], ";", ",")
    assert Lead.objects.get().annual_revenue == Decimal("120000.50")


def test_rows_set_aside_say_why_in_the_installation_s_language() -> None:
    data = (
        "email,first name,city,plan,visits,result\n"
        "a@example.com,Ana,Lugo,basic,muchas,won\n"
        "b@example.com,Bea,Vigo,basic,3,won,x,y\n"
        'c@example.com,Cris,Ourense,basic,"1,2,3",maybe\n'
    )
    with translation.override("es"):
        result = imports.leads_import(data=data.encode(), mapping=SIMPLE)
        printed = [str(error) for error in result.errors]

    assert printed == [
        "fila 2, columna 'visits': no es un número ('muchas')",
        "fila 3, columna '(toda la fila)': tiene 8 celdas pero la cabecera tiene 6 columnas "
        "(¿una comilla o un separador de más?)",
        "fila 4, columna 'visits': no es un número como los escribe el archivo ('.' antes de los decimales, "
        "',' entre los miles) ('1,2,3')",
        "fila 4, columna 'result': resultado no registrado: no es ninguno de los valores del resultado en las "
        "correspondencias: ganado (won), perdido (lost) ni abierto, sin resultado aún (ninguno) ('maybe')",
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("email;name;city\npawel@example.com;Paweł Nowak;Kraków\n", id="ł"),
        pytest.param("email,first name,city\nlukasz@example.com,Łukasz,Gdańsk\n", id="Ł"),
        pytest.param("email;name;city\nzosia@example.com;Zofia Żak;Wąchock\n", id="ą"),
    ],
)
def test_a_polish_or_czech_file_is_read_as_windows_1250(text: str) -> None:
    """Windows-1252 reads Polish bytes as cleanly (ł as ³, Ł as £), but puts signs inside words."""
    result = imports.leads_import(
        data=text.encode("cp1250"),
        mapping=imports.mapping_load("key: {column: email, field: email}\nfields: {city: city}\n"),
    )

    assert (result.encoding, result.errors) == ("cp1250", [])
    assert Lead.objects.get().city == text.rstrip("\n").rsplit(text[5], 1)[1]


@pytest.mark.parametrize("excel", [True, False], ids=["excel", "plain"])
def test_exported_numbers_are_written_without_an_exponent_and_import_back(
    excel: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    attributes = {"budget": 1.5e20, "ratio": 2.5e-07, "visits": 3, "score": 12.5}
    LeadFactory.create(email="ana@example.com", attributes=attributes)

    call_command("leads_export", excel=excel)
    printed = capsys.readouterr().out

    assert not re.search(r"\de[-+]\d", printed), printed
    row = next(csv.DictReader(io.StringIO(printed.removeprefix("\ufeff")), delimiter=";" if excel else ","))
    mark = "," if excel else "."
    assert (row["attributes.budget"], row["attributes.ratio"]) == ("150000000000000000000", f"0{mark}00000025")
    Lead.objects.all().delete()
    mapping = imports.mapping_load(
        "key: {column: email, field: email}\nattributes:\n"
        + "".join(f"  attributes.{name}: {{name: {name}, type: number}}\n" for name in attributes)
    )
    result = imports.leads_import(data=printed.encode("utf-8"), mapping=mapping)
    assert (result.created, result.errors) == (1, [])
    assert Lead.objects.get().attributes == attributes


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("email;first name;last name;city\njiri@example.com;Jiří;Dvořák;Brno\n", id="ř"),
        pytest.param("email;first name;last name;city\nlucie@example.com;Lucie;Černá;Plzeň\n", id="Č ň"),
        pytest.param("email,first name,last name,city\ntomas@example.com,Tomáš,Růžička,Ústí nad Labem\n", id="ů"),
        pytest.param(
            "email;first name;last name;city\nondrej@example.com;Ondřej;Novák;České Budějovice\n"
            "petra@example.com;Petra;Svobodová;Hradec Králové\n",
            id="ě",
        ),
        pytest.param("email;first name;last name;city\nstefan@example.com;Ştefan;Ţăran;Iaşi\n", id="Romanian"),
    ],
)
def test_a_czech_or_romanian_file_is_read_as_windows_1250(text: str) -> None:
    """Windows-1252 reads Czech bytes as letters too (Jiří as Jiøí, Růžička as Rùžièka), but
    as letters no language writes together in one word, or in one file (Ondøej, Èeské,
    Budìjovice); Romanian's as ªtefan Þãran."""
    delimiter = text[len("email")]
    result = imports.leads_import(
        data=text.encode("cp1250"),
        mapping=imports.mapping_load(
            "key: {column: email, field: email}\nfields: {first name: first_name, last name: last_name, city: city}\n"
        ),
    )

    assert (result.encoding, result.errors) == ("cp1250", [])
    rows = [line.split(delimiter)[1:] for line in text.splitlines()[1:]]
    assert sorted(Lead.objects.values_list("first_name", "last_name", "city")) == sorted(map(tuple, rows))


def names_import(data: bytes, text: str) -> imports.ImportResult:
    """Imports ``data``, the bytes of ``text``, mapping each of its columns after the email to
    the lead field of its name (first name to first_name)."""
    delimiter = text[len("email")]
    columns = text.split("\n", 1)[0].split(delimiter)[1:]
    fields = ", ".join(f"{column}: {column.replace(' ', '_')}" for column in columns)
    return imports.leads_import(
        data=data, mapping=imports.mapping_load(f"key: {{column: email, field: email}}\nfields: {{{fields}}}\n")
    )


def names_of(text: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The cells after the email of each lead ``text`` writes, as the leads hold them and as
    ``text`` writes them."""
    delimiter = text[len("email")]
    columns = text.split("\n", 1)[0].split(delimiter)[1:]
    held = Lead.objects.values_list(*(column.replace(" ", "_") for column in columns))
    return sorted(held), sorted(tuple(line.split(delimiter)[1:]) for line in text.splitlines()[1:])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("email;first name;last name;city\nlenka@example.com;Lenka;Malá;Písek\n", id="Korean"),
        pytest.param(
            "email;first name;last name;city;company\nkarel@example.com;Karel;Bílý;Kladno;Pila Bílá\n", id="DOS"
        ),
        pytest.param(
            "email,first name,last name,city,company\nmarie@example.com,Marie,Kadlecová,Tábor,Stavby Tábor s.r.o.\n",
            id="Baltic",
        ),
    ],
)
def test_a_czech_file_writing_only_a_e_i_with_acute_is_read_by_a_european_code_page(text: str) -> None:
    """The detector found Malá;Písek read as cleanly in Korean (Mal格P押ek), a DOS code page
    (BÝlř) or a Baltic one (Kadlecovį) as in Windows-1250; Windows-1252 reads á, é and í as
    Windows-1250 does."""
    result = names_import(text.encode("cp1250"), text)

    assert result.errors == []
    assert result.encoding in {"cp1250", "cp1252"}
    held, written = names_of(text)
    assert held == written


@pytest.mark.parametrize("encoding", ["cp1250", "iso-8859-2"])
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("email;first name;last name;city;company\nerdos@example.com;Péter;Erdős;Győr;Rába Kft.\n", id="o"),
        pytest.param(
            "email;first name;last name;city;company\nszucs@example.com;Anna;Szűcs;Szeged;Tisza Bt.\n", id="u"
        ),
        pytest.param(
            "email;first name;last name;city;company\nbalogh@example.com;Ödön;Balogh;Kőszeg;Kőfaragó Kft.\n",
            id="O o",
        ),
        pytest.param(
            "email,first name,last name,city,company\nkiss@example.com,Jenő,Kiss,Nyíregyháza,Fűtéstechnika Bt.\n"
            "nagy@example.com,Lőrinc,Nagy,Pécs,Kőbánya Zrt.\n",
            id="o u",
        ),
    ],
)
def test_a_hungarian_file_is_read_with_its_double_acute_accents(text: str, encoding: str) -> None:
    """Windows-1252 reads ő and ű as letters too (Erdős as Erdõs, Szűcs as Szûcs), of a
    Portuguese, Estonian or French word, and a Mac code page read Ödön as ÷dŲn. Windows-1250
    writes Hungarian's letters with ISO-8859-2's bytes."""
    result = names_import(text.encode(encoding), text)

    assert (result.encoding, result.errors) == ("cp1250", [])
    held, written = names_of(text)
    assert held == written


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "email;first name;last name;city;company\njurgen@example.com;Jürgen;Hübner;Würzburg;Hübner AG\n",
            id="DOS",
        ),
        pytest.param("email;first name;last name;city\njan@example.com;Jan;Grün;Fürth\n", id="one lead"),
        pytest.param(
            "email,first name,last name,city,company\nuwe@example.com,Uwe,Schröder,Köln,Weiß & Söhne\n"
            "karl@example.com,Karl,Lübke,Tübingen,Lübke KG\n",
            id="two leads",
        ),
        # Windows-1250 read m³ as mł (Polish) and named itself, the ü, ö and ß reading alike.
        pytest.param("email;last name;company\nanna@example.com;Weiß;Kühllager 120 m³ GmbH\n", id="m³"),
        # ISO-8859-10 and -14 read m² as mē and 20°C as 20ḞC, ISO-8859-2 µg as ľg.
        pytest.param("email;last name;company\nolaf@example.com;Böhm;Büros ab 45m² KG\n", id="m²"),
        pytest.param("email;last name;company\nute@example.com;Kröger;Kühlkette 2°C bis 8°C\n", id="°C"),
        pytest.param("email;last name;company\nrolf@example.com;Süß;Labor für 5 µg Proben\n", id="µg"),
    ],
)
def test_a_german_windows_1252_file_is_read_as_windows_1252(text: str) -> None:
    """A DOS code page read Hübner as HŘbner; Windows-1250 reads ä, ö, ü and ß as
    Windows-1252 does, and the import names Windows-1252, as Excel on German Windows writes;
    the signs of units written against a letter (m², m³, °C, µg) are no sign of another."""
    result = names_import(text.encode("cp1252"), text)

    assert (result.encoding, result.errors) == ("cp1252", [])
    held, written = names_of(text)
    assert held == written


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("email;first name;last name;city\njoao@example.com;João;Silva;São Paulo\n", id="Portuguese"),
        pytest.param("email;first name;last name;city\nsoren@example.com;Søren;Jørgensen;Odense\n", id="Danish"),
        pytest.param("email;first name;last name;city\nhelene@example.com;Hélène;Dubois;Orléans\n", id="French"),
    ],
)
def test_a_western_file_whose_letters_a_central_european_code_page_reads_as_its_own_is_windows_1252(
    text: str,
) -> None:
    """Windows-1250 reads João as Joăo, Søren as Sřren and Hélène as Hélčne, Romanian, Czech
    letters: the Western language comes first (the detector had read São Paulo in Chinese,
    S緌 Paulo)."""
    result = names_import(text.encode("cp1252"), text)

    assert (result.encoding, result.errors) == ("cp1252", [])
    held, written = names_of(text)
    assert held == written


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        pytest.param(
            "email;first name;last name;city\nolga@example.com;Ольга;Смирнова;Санкт-Петербург\n"
            "ivan@example.com;Иван;Кузнецов;Новосибирск\n",
            "cp1251",
            id="Russian",
        ),
        pytest.param(
            "email;first name;last name;city\nolga@example.com;Ольга;Смирнова;Санкт-Петербург\n", "koi8-r", id="KOI8-R"
        ),
        pytest.param(
            "email;first name;last name;city\nmaria@example.com;Μαρία;Παπαδοπούλου;Θεσσαλονίκη\n", "cp1253", id="Greek"
        ),
        pytest.param(
            "email,first name,last name,company\nhanako@example.com,花子,佐藤,株式会社テスト\n"
            "ichiro@example.com,一郎,鈴木,東京物産\n",
            "shift_jis",
            id="Japanese",
        ),
    ],
)
def test_a_file_in_another_script_is_read_with_the_code_page_the_detector_finds(text: str, encoding: str) -> None:
    """Every European code page reads its bytes as Latin letters no one language writes
    together (Ольга as Îëüãà in Windows-1252): the detector's reading, of one script, wins."""
    result = names_import(text.encode(encoding), text)

    assert result.errors == []
    held, written = names_of(text)
    assert held == written


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        pytest.param(
            "email;first name;last name;company\n"
            "anna@example.com;Anna;Müller;Müller\N{RIGHT SINGLE QUOTATION MARK}s Café\n",
            "cp1252",
            id="apostrophe",
        ),
        pytest.param(
            "email;first name;last name;company\nlenka@example.com;Lenka;Malá;„Rádio“ Kladno\n", "cp1252", id="quotes"
        ),
        pytest.param(
            "email;first name;last name;company\nlenka@example.com;Lenka;Malá;Rádio\N{EN DASH}Kladno s.r.o.\n",
            "cp1252",
            id="dash",
        ),
        pytest.param(
            "email;first name;last name;company\nana@example.com;Ana;López;Librería «El Ateneo»\n",
            "cp1252",
            id="guillemets",
        ),
        pytest.param(
            "email;first name;last name;company\nerdos@example.com;Péter;Erdős;Erdős & Fia\N{EN DASH}Győr Kft.\n",
            "cp1250",
            id="Hungarian",
        ),
    ],
)
def test_punctuation_written_against_a_word_is_no_sign_of_a_wrong_code_page(text: str, encoding: str) -> None:
    """Every European code page read a typographic apostrophe, quote or dash touching a
    word as a sign inside it, so a Mac code page or Korean reading it as a letter won
    (Müller's as MŁllerís, Rádio-Kladno as R慶io됢ladno, «El Ateneo» as ŤEl Ateneoť)."""
    result = names_import(text.encode(encoding), text)

    assert (result.encoding, result.errors) == (encoding, [])
    held, written = names_of(text)
    assert held == written


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        pytest.param("email;first name;last name;city\nion@example.com;Ion;Ţurcanu;Piteşti\n", "cp1250", id="Pitesti"),
        pytest.param(
            "email;first name;last name;city\nmihai@example.com;Mihai;Ionescu;Timişoara\n"
            "elena@example.com;Elena;Bărbulescu;Iaşi\n",
            "cp1250",
            id="Timisoara, Iasi",
        ),
        pytest.param(
            "email;first name;last name;city\nvlad@example.com;Vlad;Ţepeş;Sighişoara\n", "cp1250", id="Sighisoara"
        ),
        pytest.param(
            "email;first name;last name;company\nmaria@example.com;Mª José;Núñez;Reformas Nº 1, 3ºB\n",
            "cp1252",
            id="Spanish",
        ),
    ],
)
def test_an_ordinal_indicator_inside_a_word_is_a_sign_of_a_wrong_code_page(text: str, encoding: str) -> None:
    """Windows-1252 reads Romanian's ş as º, a letter to Unicode (Timiºoara, Piteºti), and
    Ţ as Icelandic's Þ, Bărbulescu as a Portuguese Bãrbulescu; Spanish writes º and ª only
    at a word's end (Nº, Mª, 3ºB)."""
    result = names_import(text.encode(encoding), text)

    assert (result.encoding, result.errors) == (encoding, [])
    held, written = names_of(text)
    assert held == written
