"""Management commands run in the site's language (``LEADFLOW_LANGUAGE``): their summary
lines are in Spanish on a Spanish installation, as the admin's pages are."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_leads_import_sums_up_in_spanish(settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"

    said = run("leads_import", str(EXAMPLES / "messy_leads.csv"), mapping=str(EXAMPLES / "messy_leads_mapping.yaml"))

    assert said.strip().splitlines()[-1] == (
        "10 filas (utf-8-sig, separador ';', decimal '.'): 4 creados, 0 actualizados, 0 sin cambios, "
        "6 apartadas; 3 resultados registrados."
    )


def test_scoring_decay_sums_up_in_spanish(settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"

    said = run("scoring_decay", "--day", "2026-11-24")

    assert said.startswith("Decaimiento del 2026-11-24: 0 lead(s) perdieron 0 punto(s)"), said


def test_nurture_sequences_import_sums_up_in_spanish(settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"
    call_command("scoring_model_import", "--publish", str(EXAMPLES / "es" / "toy_store.yaml"), stdout=io.StringIO())
    path = EXAMPLES / "es" / "toy_store_nurture.yaml"

    said = run("nurture_sequences_import", str(path), check=True)

    assert re.fullmatch(rf"{re.escape(str(path))}: válido \(\d+ secuencias, \d+ pasos\)\n", said), said
