"""Leads as a CSV file: their fields, scores, group and stage, their score and group on each
active scorecard (``scorecard.<key>.total_score``, ``scorecard.<key>.score_group``), and one
column per custom attribute (``attributes.<name>``), so the file imports back with a mapping. Safe to open
in a spreadsheet: a text cell that would run as a formula (starting with = + - @, a tab
or a carriage return) gets a ``'`` before it, which the import takes off again."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any, Protocol

from django.db.models import QuerySet

from scoring import lead_fields
from scoring.models import Lead, LeadScore, Scorecard
from scoring.replay import chunks_of

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS: tuple[str, ...] = (
    "email",
    *(f.name for f in lead_fields.FIELDS if f.name != "attributes"),
    "fit_score",
    "engagement_score",
    "total_score",
    "score_group",
    "created_at",
)
ATTRIBUTE_PREFIX = "attributes."
SCORECARD_PREFIX = "scorecard."
CHUNK = 2000


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def cell_safe(value: object) -> object:
    """``value`` as a spreadsheet may show it without running it: text starting like a
    formula gets a leading quote. Numbers are written as numbers (a negative one is no formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _attribute_names(leads: QuerySet[Lead]) -> list[str]:
    names: set[str] = set()
    for attributes in leads.values_list("attributes", flat=True).order_by().iterator(chunk_size=2000):
        if isinstance(attributes, dict):
            names.update(attributes)
    return sorted(names)


def _scorecard_scores(lead_ids: list[int], scorecards: list[Scorecard]) -> dict[tuple[int, int], tuple[int, str]]:
    """(lead id, scorecard id) -> (total score, group name) of the leads' rows; one query.
    A lead no rule of a scorecard has scored yet has no row: 0, in no group."""
    rows = LeadScore.objects.filter(lead_id__in=lead_ids, scorecard__in=scorecards).values_list(
        "lead_id", "scorecard_id", "total_score", "score_group__name"
    )
    return {(lead_id, card_id): (total, group or "") for lead_id, card_id, total, group in rows}


def number_written(value: object, decimal: str) -> object:
    """``value`` with ``decimal`` before its decimals if it is a number that has some (no
    thousands grouped: the import reads it back without guessing), and never with an
    exponent ("1.5e+20", which neither the import nor a spreadsheet reads as one number):
    a float's digits are its shortest exact ones, a Decimal's as stored ("120000.50")."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return format(value, "f").replace(".", decimal)
    return value


def leads_export(*, out: Writable, leads: QuerySet[Lead] | None = None, excel: bool = False) -> int:
    """Write ``leads`` (all by default) to ``out`` as CSV, in id order; returns how many.
    ``excel``: as Excel opens a CSV file in Spanish, French or German: a UTF-8 BOM (else
    it reads the bytes as Windows-1252), ``;`` between cells and ``,`` before decimals."""
    leads = Lead.objects.all() if leads is None else leads
    attribute_names = _attribute_names(leads)
    scorecards = list(Scorecard.objects.filter(active=True).order_by("key"))
    decimal, delimiter = (",", ";") if excel else (".", ",")
    header = io.StringIO()
    csv.writer(header, delimiter=delimiter).writerow(
        [
            *COLUMNS,
            *(
                f"{SCORECARD_PREFIX}{card.key}.{column}"
                for card in scorecards
                for column in ("total_score", "score_group")
            ),
            *(ATTRIBUTE_PREFIX + name for name in attribute_names),
        ]
    )
    # With the header, not alone: a command's output adds a line break to what does not end in one.
    out.write(("\ufeff" if excel else "") + header.getvalue())
    writer = csv.writer(out, delimiter=delimiter)
    count = 0
    for chunk in chunks_of(leads.select_related("score_group").order_by("pk").iterator(chunk_size=CHUNK), CHUNK):
        scores = _scorecard_scores([lead.pk for lead in chunk], scorecards) if scorecards else {}
        for lead in chunk:
            values: list[object] = []
            for column in COLUMNS:
                if column == "score_group":
                    values.append(lead.score_group.name if lead.score_group else "")
                elif column == "created_at":
                    values.append(lead.created_at.isoformat() if lead.created_at else "")
                else:
                    values.append(getattr(lead, column))
            for card in scorecards:
                values += scores.get((lead.pk, card.pk), (0, ""))
            attributes = lead.attributes if isinstance(lead.attributes, dict) else {}
            values += [attributes.get(name) for name in attribute_names]
            writer.writerow([number_written(cell_safe(value), decimal) for value in values])
            count += 1
    return count
