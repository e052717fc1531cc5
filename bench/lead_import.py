"""The CSV import of leads on PostgreSQL: the X Education history (9,240 leads with their
outcomes) imported once, then again (nothing changes the second time), in rows/s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/lead_import.py \\
        [--file ../shared/datasets/x_education_leads.csv] [--mapping examples/x_education_mapping.yaml] \\
        [--rows 100000]

``--rows`` repeats the file's rows (each copy with keys of its own) up to that many, to
show a larger file. Creates its own database (``<name>_lead_import_bench`` next to
DATABASE_URL's) and drops it afterwards (keep it with LEADFLOW_BENCH_KEEP=1).

The baseline is measured in the same run, first: ``csv.DictReader`` and a plain
``bulk_create`` of the same rows (external id, country, city, every other cell as a text
attribute), with no checks, no typing, no idempotency and no outcomes; its leads are
deleted before the import runs.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_settings, recreate_database  # noqa: E402

# The datasets sit beside the checkout (../shared/datasets), or where LEADFLOW_DATASETS says.
DATASET = Path(os.environ.get("LEADFLOW_DATASETS", ROOT.parent / "shared" / "datasets")) / "x_education_leads.csv"


def grown(data: bytes, rows: int) -> bytes:
    """The file's rows repeated up to ``rows``, each copy's Prospect ID and Lead Number made its own."""
    text = data.decode("utf-8")
    header, *lines = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    copy = 0
    written = 0
    while written < rows:
        for line in lines:
            if written == rows:
                break
            writer.writerow([f"{line[0]}-{copy}" if copy else line[0], *line[1:]])
            written += 1
        copy += 1
    return out.getvalue().encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DATASET)
    parser.add_argument("--mapping", type=Path, default=ROOT / "examples" / "x_education_mapping.yaml")
    parser.add_argument("--rows", type=int, default=0, help="Repeat the file's rows up to this many.")
    args = parser.parse_args()

    admin_url, name = bench_settings("lead_import_bench")
    import django

    django.setup()
    from django.core.management import call_command

    from intake import imports
    from scoring.models import Lead

    try:
        call_command("migrate", verbosity=0)
        data = args.file.read_bytes()
        if args.rows:
            data = grown(data, args.rows)
        mapping = imports.mapping_load(args.mapping.read_text(encoding="utf-8"))

        started = time.perf_counter()
        reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
        plain = [
            Lead(
                external_id=row["Prospect ID"],
                country=row["Country"],
                city=row["City"],
                attributes={k: v for k, v in row.items() if k not in {"Prospect ID", "Country", "City"}},
            )
            for row in reader
        ]
        Lead.objects.bulk_create(plain, batch_size=1000)
        baseline = time.perf_counter() - started
        rows = len(plain)
        Lead.objects.all().delete()

        started = time.perf_counter()
        first = imports.leads_import(data=data, mapping=mapping)
        first_time = time.perf_counter() - started
        started = time.perf_counter()
        again = imports.leads_import(data=data, mapping=mapping)
        again_time = time.perf_counter() - started

        print(f"{args.file.name}: {rows} rows; mapping {args.mapping.name}")
        print(f"baseline (csv.DictReader + bulk_create, text only): {baseline:.2f} s, {rows / baseline:,.0f} rows/s")
        print(
            f"import, first time: {first_time:.2f} s, {rows / first_time:,.0f} rows/s "
            f"({first_time / baseline:.1f}x the baseline's time); "
            f"created {first.created}, set aside {first.set_aside}, outcomes recorded {first.outcomes_recorded}"
        )
        print(
            f"import, again: {again_time:.2f} s, {rows / again_time:,.0f} rows/s "
            f"({again_time / baseline:.1f}x the baseline's time); "
            f"created {again.created}, updated {again.updated}, unchanged {again.unchanged}, "
            f"outcomes recorded {again.outcomes_recorded}"
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, name, drop_only=True)


if __name__ == "__main__":
    main()
