"""The mapping of a CSV file onto leads: which column is the key, which columns are lead
fields, custom attributes (typed), activity counts and the outcome, and which values
mean "missing". Read from YAML (a file kept beside the CSV, or the admin's form); every
mistake is refused naming the mapping's field and the reason, before any row is read.

A mapping file::

    key: {column: Prospect ID, field: external_id}   # or field: email
    missing: ["", Select, NA, n/a]                   # optional; these are the defaults
    fields: {Email: email, City: city}               # CSV column: lead field
    attributes:                                      # CSV column: attribute (text by default)
      Lead Source: {name: lead_source, type: category}
      Do Not Email: {name: do_not_email, type: boolean}
    activity: {TotalVisits: total_visits}            # CSV column: attribute (whole number)
    outcome: {column: Converted, won: ["1"], lost: ["0"], reason: Lost before the import}
    # or, from a CRM: open leads, and each lost one's reason from a column
    # outcome: {column: Status, won: [Won], lost: [Lost], open: [Open, In progress], reason_column: Lost Reason}
    account: Company ID                              # optional: the company's id (the API's account_id)
    decimal: ","                                     # optional: the decimal mark ("," or "."); else found in the file
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml
from django.utils.translation import gettext_noop

from scoring import file_checks, lead_fields, sentences
from scoring.said import Said, said

# Values that mean "not known" unless the mapping lists its own (compared ignoring case
# and surrounding spaces): what spreadsheets and CRM exports put in empty cells.
DEFAULT_MISSING: tuple[str, ...] = ("", "Select", "NA", "N/A", "n/a", "null", "None", "NaN", "-", "--")
ATTRIBUTE_TYPES = ("text", "number", "boolean", "category")
KEY_FIELDS = ("external_id", "email")
# Lead fields a CSV column may set: what other systems may write, but the custom
# attributes (mapped one by one under ``attributes``) and the stage (the outcome sets it).
FIELDS: tuple[str, ...] = (
    "email",
    *(f.name for f in lead_fields.FIELDS if f.writable and f.name not in {"attributes", "lifecycle_stage"}),
)
_ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
OUTCOME_KINDS = ("won", "lost")
# What an outcome cell listed under ``open`` says: no outcome yet (the lead is imported, nothing recorded).
OPEN = "open"
OUTCOME_SETTINGS = ("column", "won", "lost", "open", "reason", "reason_column")
DECIMAL_MARKS = (",", ".")


class MappingError(ValueError):
    """The mapping cannot be used; ``field`` names where in the mapping, ``reason`` why (in
    the active language; ``said`` keeps it as a sentence, :mod:`scoring.said`). Its text is
    the English, as a log or the command line shows it."""

    def __init__(self, field: str, reason: Said) -> None:
        super().__init__(f"{field}: {reason.english()}")
        self.field, self.said = field, reason

    @property
    def reason(self) -> str:
        return sentences.translated(self.said)

    def sentence(self) -> Said:
        """The field and the reason, as a sentence an import keeps."""
        return said(FIELD_REASON, field=self.field, reason=self.said)


# Where in the mapping, and why: the same words in every language.
FIELD_REASON = "{field}: {reason}"


@dataclass(frozen=True)
class Attribute:
    column: str
    name: str
    type: str = "text"
    # For a category: the values it may take (empty: any).
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    column: str
    won: tuple[str, ...]
    lost: tuple[str, ...]
    reason: str = "Lost (imported from a CSV file)"
    # Values meaning "no outcome yet" (a CRM's open leads): the lead is imported, no outcome recorded.
    open: tuple[str, ...] = ()
    # The column holding each lost lead's reason; ``reason`` when its cell is empty.
    reason_column: str | None = None

    def kind(self, value: str) -> str | None:
        """``won``, ``lost``, ``open``, or None when the value is none of them."""
        folded = value.strip().casefold()
        for kind, values in (("won", self.won), ("lost", self.lost), (OPEN, self.open)):
            if folded in {v.casefold() for v in values}:
                return kind
        return None


@dataclass(frozen=True)
class Mapping:
    key_column: str
    key_field: str = "external_id"
    fields: dict[str, str] = field(default_factory=dict)  # column -> lead field
    attributes: tuple[Attribute, ...] = ()
    activity: dict[str, str] = field(default_factory=dict)  # column -> attribute name
    outcome: Outcome | None = None
    # The column holding the company's id in another system (the API's account_id): the
    # lead belongs to that account from then on, whatever its email's domain.
    account_column: str | None = None
    missing: tuple[str, ...] = DEFAULT_MISSING
    # None: found out from the file (a BOM, then UTF-8, then a detector); a delimiter likewise.
    encoding: str | None = None
    delimiter: str | None = None
    # "," or "."; None: the numbers of the file tell (see rows.decimal_mark_find).
    decimal: str | None = None

    def columns(self) -> list[tuple[str, str]]:
        """Every column the mapping reads, with the mapping's field that names it."""
        found = [(self.key_column, "key.column")]
        found += [(column, f"fields.{column}") for column in self.fields]
        found += [(a.column, f"attributes.{a.column}") for a in self.attributes]
        found += [(column, f"activity.{column}") for column in self.activity]
        if self.outcome is not None:
            found.append((self.outcome.column, "outcome.column"))
            if self.outcome.reason_column is not None:
                found.append((self.outcome.reason_column, "outcome.reason_column"))
        if self.account_column is not None:
            found.append((self.account_column, "account"))
        return found

    def is_missing(self, value: str) -> bool:
        return value.strip().casefold() in self._missing_folded

    @cached_property  # read for every cell: folded once
    def _missing_folded(self) -> frozenset[str]:
        return frozenset(v.strip().casefold() for v in self.missing)


def mapping_load(text: str) -> Mapping:
    """The mapping a YAML text describes; :class:`MappingError` naming the field otherwise."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or exc)
        if where is None:
            raise MappingError("mapping", said(gettext_noop("is not valid YAML: {problem}"), problem=problem)) from None
        # What is wrong said in the reader's language where the model file's checks know it.
        reason = file_checks.yaml_reason(exc) if isinstance(exc, yaml.MarkedYAMLError) else None
        told: str | Said = problem if reason is None else reason.sentence
        raise MappingError(
            "mapping",
            said(gettext_noop("is not valid YAML (line {line}): {problem}"), line=where.line + 1, problem=told),
        ) from None
    return mapping_from_dict(raw)


def mapping_from_dict(raw: object) -> Mapping:
    """The mapping a parsed YAML document (or the admin form's) describes."""
    if not isinstance(raw, dict):
        raise MappingError("mapping", said(gettext_noop("must be a YAML mapping with at least 'key'")))
    known = {
        "key",
        "missing",
        "fields",
        "attributes",
        "activity",
        "outcome",
        "account",
        "encoding",
        "delimiter",
        "decimal",
    }
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise MappingError(unknown[0], _unknown(sorted(known)))
    key_column, key_field = _key(raw.get("key"))
    fields = _fields(raw.get("fields"))
    attributes = _attributes(raw.get("attributes"))
    activity = _activity(raw.get("activity"))
    outcome = _outcome(raw.get("outcome"))
    missing = DEFAULT_MISSING if raw.get("missing") is None else _texts(raw["missing"], "missing", allow_empty=True)
    encoding = _optional_text(raw.get("encoding"), "encoding")
    if encoding is not None:
        import codecs

        try:
            codec = codecs.lookup(encoding)
        except (LookupError, ValueError):  # ValueError: a name holding NUL
            raise MappingError(
                "encoding", said(gettext_noop("'{encoding}' is not an encoding Python knows"), encoding=encoding)
            ) from None
        # rot13, zlib, base64…: codecs Python knows that make bytes of bytes, not text.
        if not getattr(codec, "_is_text_encoding", True):
            raise MappingError(
                "encoding",
                said(
                    gettext_noop("'{encoding}' is not a text encoding (e.g. utf-8, latin-1, cp1252)"), encoding=encoding
                ),
            )
    delimiter = _optional_text(raw.get("delimiter"), "delimiter")
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise MappingError("delimiter", said(gettext_noop("must be one character (not a quote or a line break)")))
    decimal = _optional_text(raw.get("decimal"), "decimal")
    if decimal is not None and decimal not in DECIMAL_MARKS:
        raise MappingError("decimal", said(gettext_noop("must be ',' (1.234,5) or '.' (1,234.5)")))
    if key_field in fields.values():
        column = next(c for c, f in fields.items() if f == key_field)
        if column != key_column:
            raise MappingError(
                f"fields.{column}",
                said(
                    gettext_noop("{field} is the key's field (column '{column}')"), field=key_field, column=key_column
                ),
            )
    mapping = Mapping(
        key_column=key_column,
        key_field=key_field,
        fields={c: f for c, f in fields.items() if c != key_column},
        attributes=attributes,
        activity=activity,
        outcome=outcome,
        account_column=_optional_text(raw.get("account"), "account"),
        missing=missing,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
    )
    _no_duplicates(mapping)
    return mapping


def _key(raw: object) -> tuple[str, str]:
    if raw is None:
        raise MappingError(
            "key",
            said(gettext_noop("required: the column that identifies each lead (e.g. {{column: Email, field: email}})")),
        )
    if isinstance(raw, str):
        raw = {"column": raw}
    if not isinstance(raw, dict):
        raise MappingError(
            "key",
            said(gettext_noop("must be a column name or {{column: …, field: email or external_id}}")),
        )
    unknown = sorted(str(k) for k in raw if k not in {"column", "field"})
    if unknown:
        raise MappingError(f"key.{unknown[0]}", _unknown(["column", "field"]))
    column = _text(raw.get("column"), "key.column")
    key_field = raw.get("field", "external_id")
    if key_field not in KEY_FIELDS:
        raise MappingError("key.field", _not_one_of(KEY_FIELDS, key_field))
    return column, str(key_field)


def _fields(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingError("fields", said(gettext_noop("must map CSV columns to lead fields, e.g. {{City: city}}")))
    fields: dict[str, str] = {}
    for column, name in raw.items():
        where = f"fields.{column}"
        column = _text(column, "fields")
        if name not in FIELDS:
            raise MappingError(
                where,
                said(
                    gettext_noop("{name} is not a lead field a file may set (one of {fields})"),
                    name=repr(name),
                    fields=", ".join(FIELDS),
                ),
            )
        if name in fields.values():
            raise MappingError(where, said(gettext_noop("{name} is set by another column too"), name=str(name)))
        fields[column] = str(name)
    return fields


def _attribute_name(raw: object, where: str) -> str:
    name = _text(raw, where)
    if not _ATTRIBUTE_NAME.match(name):
        raise MappingError(
            where,
            said(gettext_noop("'{name}' must be lower-case letters, digits and _, starting with a letter"), name=name),
        )
    if name in lead_fields.RESERVED_ATTRIBUTES:
        raise MappingError(
            where, said(gettext_noop("'{name}' is the lead's own field, never a custom attribute"), name=name)
        )
    return name


def _attributes(raw: object) -> tuple[Attribute, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise MappingError(
            "attributes",
            said(gettext_noop("must map CSV columns to attributes, e.g. {{Source: {{name: source}}}}")),
        )
    found: list[Attribute] = []
    for column, spec in raw.items():
        where = f"attributes.{column}"
        column = _text(column, "attributes")
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict):
            raise MappingError(where, said(gettext_noop("must be an attribute name or {{name: …, type: …}}")))
        unknown = sorted(str(k) for k in spec if k not in {"name", "type", "values"})
        if unknown:
            raise MappingError(f"{where}.{unknown[0]}", _unknown(["name", "type", "values"]))
        name = _attribute_name(spec.get("name"), f"{where}.name")
        kind = spec.get("type", "text")
        if kind not in ATTRIBUTE_TYPES:
            raise MappingError(f"{where}.type", _not_one_of(ATTRIBUTE_TYPES, kind))
        values: tuple[str, ...] = ()
        if spec.get("values") is not None:
            if kind != "category":
                raise MappingError(f"{where}.values", said(gettext_noop("only a category lists its values")))
            values = _texts(spec["values"], f"{where}.values")
        found.append(Attribute(column=column, name=name, type=str(kind), values=values))
    return tuple(found)


def _activity(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingError(
            "activity",
            said(gettext_noop("must map CSV columns to attribute names, e.g. {{TotalVisits: total_visits}}")),
        )
    return {_text(column, "activity"): _attribute_name(name, f"activity.{column}") for column, name in raw.items()}


def _outcome(raw: object) -> Outcome | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MappingError("outcome", said(gettext_noop("must be {{column: …, won: [values], lost: [values]}}")))
    unknown = sorted(str(k) for k in raw if k not in OUTCOME_SETTINGS)
    if unknown:
        raise MappingError(f"outcome.{unknown[0]}", _unknown(OUTCOME_SETTINGS))
    column = _text(raw.get("column"), "outcome.column")
    won = _texts(raw.get("won"), "outcome.won")
    lost = _texts(raw.get("lost"), "outcome.lost")
    both = {v.casefold() for v in won} & {v.casefold() for v in lost}
    if both:
        raise MappingError("outcome.lost", said(gettext_noop("'{value}' is listed as won too"), value=sorted(both)[0]))
    open_ = () if raw.get("open") is None else _texts(raw["open"], "outcome.open")
    for values, listed in (
        (won, gettext_noop("'{value}' is listed as won too")),
        (lost, gettext_noop("'{value}' is listed as lost too")),
    ):
        closed = {v.casefold() for v in values} & {v.casefold() for v in open_}
        if closed:
            raise MappingError("outcome.open", said(listed, value=sorted(closed)[0]))
    reason = raw.get("reason", Outcome.reason)
    return Outcome(
        column=column,
        won=won,
        lost=lost,
        reason=_text(reason, "outcome.reason"),
        open=open_,
        reason_column=_optional_text(raw.get("reason_column"), "outcome.reason_column"),
    )


def _no_duplicates(mapping: Mapping) -> None:
    seen: dict[str, str] = {}
    for column, where in mapping.columns():
        if column in seen and not (where.startswith("fields.") and seen[column] == "key.column"):
            raise MappingError(
                where,
                said(gettext_noop("column '{column}' is mapped already ({where})"), column=column, where=seen[column]),
            )
        seen.setdefault(column, where)
    names: dict[str, str] = {}
    for name, where in [(a.name, f"attributes.{a.column}.name") for a in mapping.attributes] + [
        (name, f"activity.{column}") for column, name in mapping.activity.items()
    ]:
        if name in names:
            raise MappingError(
                where, said(gettext_noop("attribute '{name}' is set by {where} too"), name=name, where=names[name])
            )
        names[name] = where


def _text(raw: object, where: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise MappingError(where, said(gettext_noop("required: a text")))
    text = str(raw).strip()
    if not text:
        raise MappingError(where, said(gettext_noop("must not be empty")))
    return text


def _optional_text(raw: object, where: str) -> str | None:
    return None if raw is None else (raw if isinstance(raw, str) and raw else _text(raw, where))


def _texts(raw: object, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    items: Iterable[Any] = raw if isinstance(raw, list) else [raw]
    found: list[str] = []
    for item in items:
        if item is None or isinstance(item, dict | list):
            raise MappingError(where, said(gettext_noop("must be a list of values")))
        # YAML reads 1, yes and 1.0 as numbers and booleans: the file's cells are text.
        text = ("true" if item else "false") if isinstance(item, bool) else str(item)
        if not text.strip() and not allow_empty:
            raise MappingError(where, said(gettext_noop("must not hold an empty value")))
        found.append(text)
    if not found and not allow_empty:
        raise MappingError(where, said(gettext_noop("required: at least one value")))
    return tuple(found)


def _unknown(known: Iterable[str]) -> Said:
    return said(gettext_noop("unknown setting (known: {known})"), known=", ".join(known))


def _not_one_of(allowed: Iterable[str], value: object) -> Said:
    return said(gettext_noop("must be one of {allowed} (not {value})"), allowed=", ".join(allowed), value=repr(value))
