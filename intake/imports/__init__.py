"""Leads from CSV files: a mapping (YAML) of the file's columns onto lead fields, typed
custom attributes, activity counts and an outcome; an import that reads real-world
files, runs in batches, is safe to run twice and sets aside the rows it cannot take
with their row, column and reason. The export is scoring's (:mod:`scoring.lead_export`)."""

from intake.imports.mapping import Attribute, Mapping, MappingError, Outcome, mapping_from_dict, mapping_load
from intake.imports.reading import FileError
from intake.imports.rows import RowError
from intake.imports.services import ImportResult, lead_import_run, lead_import_start, leads_import

__all__ = [
    "Attribute",
    "FileError",
    "ImportResult",
    "Mapping",
    "MappingError",
    "Outcome",
    "RowError",
    "lead_import_run",
    "lead_import_start",
    "leads_import",
    "mapping_from_dict",
    "mapping_load",
]
