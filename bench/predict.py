"""Predictive scoring on a real history: X Education's 9,240 leads (target ``Converted``).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/predict.py \\
        [--csv ../shared/datasets/x_education_leads.csv] [--mapping examples/x_education_mapping.yaml]

Creates its own database (``<name>_predict_bench`` next to DATABASE_URL's; dropped
afterwards unless LEADFLOW_BENCH_KEEP=1), loads the leads and their outcomes through the
CSV import and the mapping file (:func:`load_leads`), then trains through Leadflow's own
service — the same one ``manage.py scoring_predictive_train`` runs — twice: with the
columns sales fills in after contact excluded (Tags, Lead Quality, Lead Profile, Last
Notable Activity and the Asymmetrique columns), and with Last Activity excluded too. For
each it prints the 5-fold stratified cross-validated AUC of the kept model, its Brier
score and its training time, beside a plain scikit-learn GradientBoostingClassifier
(default settings) measured in the same run on the same features and the same folds, and
the ratio of the two AUCs. Then the scoring rate (features, one vectorised prediction and
reasons for every lead, in memory; baseline: the same, one lead at a time) and the rate of
the database refresh (every lead's probability and reasons computed and upserted, in
batches).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_settings, recreate_database  # noqa: E402

AFTER_CONTACT = [
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Last Notable Activity",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
]


def load_leads(path: Path, mapping_path: Path) -> tuple[int, dict[str, str]]:
    """Load the CSV's leads and outcomes through Leadflow's own CSV import, with the mapping
    file; returns how many leads, and each mapped column's attribute name (what training
    excludes by)."""
    from intake import imports
    from scoring.models import Lead

    mapping = imports.mapping_load(mapping_path.read_text())
    result = imports.leads_import(data=path.read_bytes(), mapping=mapping)
    if result.errors:
        print(f"  {len(result.errors)} row(s) set aside by the import, e.g. {result.errors[0]}")
    names = {attribute.column: attribute.name for attribute in mapping.attributes} | dict(mapping.activity)
    return int(Lead.objects.count()), names


def baseline_auc(facts: list[Any], labels: list[bool], spec: Any) -> tuple[float, float]:
    """A plain GradientBoostingClassifier's 5-fold AUC on the same features and folds, and its time."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from threadpoolctl import threadpool_limits

    from scoring.predictive.features import featurize

    x, y = featurize(spec, facts), np.array(labels, dtype=int)
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        auc = cross_val_score(GradientBoostingClassifier(random_state=0), x, y, cv=folds, scoring="roc_auc").mean()
    return float(auc), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=ROOT.parent / "shared/datasets/x_education_leads.csv")
    parser.add_argument("--mapping", type=Path, default=ROOT / "examples/x_education_mapping.yaml")
    args = parser.parse_args()

    admin_url, bench_name = bench_settings("predict_bench")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.utils import timezone

        from scoring import outcomes
        from scoring.services import predictive

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        count, names = load_leads(args.csv, args.mapping)
        print(
            f"Database {bench_name}: {count:,} leads and their outcomes loaded in {time.perf_counter() - started:.1f} s"
        )

        closed = outcomes.closed_outcomes()
        ids, facts, _ = predictive.leads_facts(lead_ids=sorted(closed), now=timezone.now())
        labels = [closed[i] for i in ids]
        for name, excluded, activate in (
            ("Sales' columns excluded", [names.get(c, c) for c in AFTER_CONTACT], True),
            ("Last Activity excluded too", [names.get(c, c) for c in [*AFTER_CONTACT, "Last Activity"]], False),
        ):
            version = predictive.model_train(excluded=excluded, activate=activate)
            m = version.metrics
            model = predictive._model_of(version)
            auc, seconds = baseline_auc(facts, labels, model.spec)
            print(f"\n{name}: {len(model.spec.features)} features from {len(model.spec.source_columns)} columns")
            for compared in m["compared"].values():
                print(f"  {compared['label']:<36} CV AUC {compared['cv_auc']:.4f}")
            print(f"  kept: {version.algorithm}, CV AUC {m['cv_auc']:.4f}, Brier {m['brier']:.4f}")
            print(f"  training (both candidates, 5 folds each, calibration, refit): {version.training_seconds:.1f} s")
            print(f"  baseline GradientBoostingClassifier: CV AUC {auc:.4f} ({seconds:.1f} s)")
            print(f"  ratio kept / baseline AUC: {m['cv_auc'] / auc:.3f}")

        active = predictive.active_model()
        assert active is not None
        model = predictive._model_of(active)
        # A worker loads a model once and keeps it (with what its first batch works out once:
        # each tree leaf's credits); that first batch is timed apart, the rate is the steady one.
        started = time.perf_counter()
        model.scored(facts[:100], model.matrix(facts[:100]))
        first = time.perf_counter() - started
        rounds = 3
        started = time.perf_counter()
        for _ in range(rounds):
            model.scored(facts, model.matrix(facts))
        rate = rounds * len(facts) / (time.perf_counter() - started)
        sample = facts[:300]
        started = time.perf_counter()
        for lead in sample:
            model.scored([lead], model.matrix([lead]))
        one_rate = len(sample) / (time.perf_counter() - started)
        print(f"\nScoring (features, probability and reasons, in memory): {rate:,.0f} leads/s")
        print(f"  the model's first batch of 100 after loading, with its one-time preparation: {first * 1000:.0f} ms")
        print(f"  baseline, one lead at a time: {one_rate:,.0f} leads/s (ratio {rate / one_rate:.0f}x)")
        started = time.perf_counter()
        done = predictive.predictions_refresh()
        refresh = done / (time.perf_counter() - started)
        print(f"Database refresh (read, score, upsert; batches of {predictive.REFRESH_BATCH}): {refresh:,.0f} leads/s")
        print(f"  ratio to in-memory scoring: {refresh / rate:.2f}")
    finally:
        if os.environ.get("LEADFLOW_BENCH_KEEP") != "1":
            from django.db import connections

            connections.close_all()
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    main()
